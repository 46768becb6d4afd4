"""Is this the same patient? Names compared the way people write them, for the two warnings
given before a mistake: a new case whose patient is already here, and a DICOM file whose
header names someone else.

Names are equal when they are the same words ignoring case, accents and extra spaces
("María  López" is "maria lopez"). A DICOM name is ``Family^Given^Middle^Prefix^Suffix``: it
matches a case's name when the words of one hold all the words of the other ("LOPEZ^MARIA^A"
is Maria Lopez), in any order. Pure functions; no patient data is logged here or by callers.
"""

from __future__ import annotations

import re
import unicodedata

# Ages within this many years count as the same patient (a birthday between two visits).
AGE_TOLERANCE = 1
_SEPARATORS = re.compile(r"[\s^,=]+")


def plain(text: str | None) -> str:
    """Lower-case, accents and other combining marks removed (NFKD), spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def words(text: str | None) -> frozenset[str]:
    """The words of a name, plain, with DICOM's ``^`` and ``=`` read as spaces."""
    return frozenset(w.strip(".") for w in _SEPARATORS.split(plain(text)) if w.strip("."))


def same_name(a: str | None, b: str | None) -> bool:
    """Same words in the same order, ignoring case, accents and extra spaces."""
    return bool(plain(a)) and plain(a) == plain(b)


def same_patient(name: str, age: int, gender: str, other_name: str, other_age: int,
                 other_gender: str) -> bool:
    """The duplicate-patient rule: same name (as above), same gender, age within a year."""
    return (same_name(name, other_name) and plain(gender) == plain(other_gender)
            and abs(int(age) - int(other_age)) <= AGE_TOLERANCE)


def dicom_name_matches(dicom_name: str | None, case_name: str | None) -> bool:
    """Whether a DICOM PatientName can be the case's patient: no name in the header says
    nothing either way; otherwise the words of one must hold all the words of the other."""
    theirs, ours = words(dicom_name), words(case_name)
    if not theirs or not ours:
        return True
    return theirs <= ours or ours <= theirs
