"""DSM-5 criteria, severity bands and ICD-10-CM codes (CLINICAL.md §1)."""

from __future__ import annotations

import pytest

from casemgr.clinical import dsm5, teds

# The published table: severity by number of criteria met.
SEVERITY_BY_COUNT = {
    0: "none",
    1: "none",
    2: "mild",
    3: "mild",
    4: "moderate",
    5: "moderate",
    6: "severe",
    7: "severe",
    8: "severe",
    9: "severe",
    10: "severe",
    11: "severe",
}


def test_criteria_are_the_eleven_dsm5_criteria() -> None:
    assert list(dsm5.CRITERIA) == list(range(1, 12))
    assert dsm5.CRITERIA[10] == "tolerance"
    assert dsm5.CRITERIA[11] == "withdrawal"


@pytest.mark.parametrize(("count", "severity"), SEVERITY_BY_COUNT.items())
def test_severity_follows_count_without_supervision(count: int, severity: str) -> None:
    # Criteria from 11 downwards, so tolerance and withdrawal are always among them.
    criteria = list(range(11, 11 - count, -1))
    result = dsm5.assess(criteria, medical_supervision=False)
    assert result.criteria_counted == count
    assert result.severity == severity


@pytest.mark.parametrize(("count", "severity"), SEVERITY_BY_COUNT.items())
def test_severity_under_supervision_ignores_tolerance_and_withdrawal(
    count: int, severity: str
) -> None:
    # The same criteria as above: under supervision 10 and 11 drop out of the count.
    criteria = list(range(11, 11 - count, -1))
    counted = len([c for c in criteria if c not in (10, 11)])
    result = dsm5.assess(criteria, medical_supervision=True)
    assert result.criteria_counted == counted
    assert result.severity == SEVERITY_BY_COUNT[counted]


@pytest.mark.parametrize(("counted", "severity"), list(SEVERITY_BY_COUNT.items())[:10])
def test_severity_under_supervision_counts_criteria_one_to_nine(
    counted: int, severity: str
) -> None:
    result = dsm5.assess([*range(1, counted + 1), 10, 11], medical_supervision=True)
    assert (result.criteria_counted, result.severity) == (counted, severity)


def test_prescribed_regimen_with_only_tolerance_and_withdrawal_is_no_disorder() -> None:
    result = dsm5.assess([10, 11], medical_supervision=True)
    assert result == dsm5.Dsm5Result(criteria_counted=0, severity="none", icd10=None)


def test_same_criteria_without_supervision_are_a_mild_disorder() -> None:
    assert dsm5.assess([10, 11], medical_supervision=False).severity == "mild"


def test_criteria_order_does_not_matter() -> None:
    assert dsm5.assess((5, 1, 3), False) == dsm5.assess([1, 3, 5], False)


def test_criteria_may_be_any_iterable() -> None:
    assert dsm5.assess(iter([1, 2, 3, 4]), False).severity == "moderate"


@pytest.mark.parametrize("criteria", [[0], [12], [-1], [1, 2, 99]])
def test_unknown_criterion_is_refused(criteria: list[int]) -> None:
    with pytest.raises(ValueError, match="unknown DSM-5 criterion"):
        dsm5.assess(criteria, medical_supervision=False)


def test_duplicate_criterion_is_refused() -> None:
    with pytest.raises(ValueError, match="criterion 4 is listed twice"):
        dsm5.assess([1, 4, 4], medical_supervision=False)


@pytest.mark.parametrize("criterion", ["1", 1.0, True, None])
def test_non_integer_criterion_is_refused(criterion: object) -> None:
    with pytest.raises(ValueError, match="not a criterion number"):
        dsm5.assess([criterion], medical_supervision=False)  # type: ignore[list-item]


def test_medical_supervision_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="medical_supervision"):
        dsm5.assess([10, 11], medical_supervision="false")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("severity", "icd10"),
    [("none", None), ("mild", "F13.10"), ("moderate", "F13.20"), ("severe", "F13.20")],
)
def test_icd10_defaults_to_sedative_hypnotic_anxiolytic(severity: str, icd10: str | None) -> None:
    assert dsm5.icd10_for(severity) == icd10


@pytest.mark.parametrize(
    ("substance", "family"),
    [
        (2, "F10"),
        (3, "F14"),
        (4, "F12"),
        (5, "F11"),
        (6, "F11"),
        (7, "F11"),
        (8, "F16"),
        (9, "F16"),
        (10, "F15"),
        (11, "F15"),
        (12, "F15"),
        (13, "F13"),
        (14, "F13"),
        (15, "F13"),
        (16, "F13"),
        (17, "F18"),
        (18, "F19"),
        (19, "F19"),
    ],
)
def test_icd10_family_follows_teds_primary_substance(substance: int, family: str) -> None:
    assert dsm5.assess([1, 2], False, substance).icd10 == f"{family}.10"
    assert dsm5.assess([1, 2, 3, 4], False, substance).icd10 == f"{family}.20"
    assert dsm5.assess(range(1, 12), False, substance).icd10 == f"{family}.20"


def test_every_teds_substance_but_none_has_an_icd10_family() -> None:
    assert set(dsm5.ICD10_FAMILY_BY_SUBSTANCE) == set(teds.SUBSTANCES) - {1}


def test_no_disorder_has_no_icd10_code_whatever_the_substance() -> None:
    assert dsm5.assess([1], False, 2).icd10 is None
    assert dsm5.assess([], False, 1).icd10 is None


def test_disorder_with_substance_none_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a substance"):
        dsm5.assess([1, 2], False, substance=1)


@pytest.mark.parametrize("substance", [0, 20, teds.UNKNOWN, True])
def test_unknown_substance_code_is_refused(substance: int) -> None:
    with pytest.raises(ValueError, match="unknown TEDS substance code"):
        dsm5.assess([1, 2], False, substance=substance)


def test_unknown_severity_has_no_code() -> None:
    with pytest.raises(ValueError, match="unknown severity"):
        dsm5.icd10_for("extreme")


@pytest.mark.parametrize("count", [-1, 12])
def test_severity_for_impossible_count_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="criteria count"):
        dsm5.severity_for_count(count)


@pytest.mark.parametrize(
    ("code", "normalised"),
    [
        ("F41.1", "F41.1"),
        ("F13.20", "F13.20"),
        ("Z59.0", "Z59.0"),
        ("I10", "I10"),
        ("f41.1", "F41.1"),
        ("  f13.20 ", "F13.20"),
        ("F411", "F41.1"),
        ("S72.001A", "S72.001A"),
        ("Z3A.08", "Z3A.08"),
        ("M1A.0110", "M1A.0110"),
    ],
)
def test_icd10_code_is_normalised(code: str, normalised: str) -> None:
    assert dsm5.validate_icd10(code) == normalised


@pytest.mark.parametrize(
    "code",
    ["", "F", "F4", "41.1", "FF1.1", "F41.", "F41..1", "F41.12345", "F41-1", "F4 1.1", "Ä41.1"],
)
def test_malformed_icd10_code_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match="is not an ICD-10 code"):
        dsm5.validate_icd10(code)


def test_non_text_icd10_code_is_refused() -> None:
    with pytest.raises(ValueError, match="must be text"):
        dsm5.validate_icd10(41.1)  # type: ignore[arg-type]


def test_result_is_immutable() -> None:
    result = dsm5.assess([1, 2], False)
    with pytest.raises(AttributeError):
        result.severity = "severe"  # type: ignore[misc]
