"""Who may book a vaccination drive: its rules, checked for a patient on the vaccination day.

Every rule that a drive sets must hold. Each rule that fails gives a reason in the active
language, so that a patient sees all of them at once rather than one after another.
"""

from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from booking.models import Patient, RiskGroup, VaccinationDrive
from booking.vaccination.models import AGE_RISK_GROUPS

MONTHS_AT_65 = 65 * 12


@dataclass(frozen=True)
class Ineligibility:
    code: str  # too_young, too_old, sex, risk_group, district
    message: str


def _age_in_months(born: date, on: date) -> int:
    """Whole months of age on a day; a birthday on the 31st counts at the month's end."""
    months = (on.year - born.year) * 12 + on.month - born.month
    if on.day < born.day:
        months -= 1
    return months


def _describe_age(months: int) -> str:
    if months % 12 == 0:
        years = months // 12
        return ngettext("%(count)d year", "%(count)d years", years) % {"count": years}
    return ngettext("%(count)d month", "%(count)d months", months) % {"count": months}


def risk_groups_on(patient: Patient, day: date) -> set[str]:
    """The patient's declared risk groups and those that follow from their age on the day."""
    groups = {group for group in patient.risk_groups if group not in AGE_RISK_GROUPS}
    months = _age_in_months(patient.date_of_birth, day)
    if months >= MONTHS_AT_65:
        groups.add(RiskGroup.AGED_65_PLUS)
    if 6 <= months < 24:
        groups.add(RiskGroup.YOUNG_CHILD)
    return groups


def ineligibilities(
    drive: VaccinationDrive, patient: Patient, day: date, *, district_codes: set[int]
) -> list[Ineligibility]:
    """Why the patient may not book the drive for that day; empty when they may.

    `district_codes` are the drive's home districts (empty: any), passed in so that checking
    many patients reads them once."""
    problems = []
    months = _age_in_months(patient.date_of_birth, day)
    if drive.min_age_months is not None and months < drive.min_age_months:
        problems.append(
            Ineligibility(
                "too_young",
                str(
                    _("This drive is for people aged %(age)s or over on the vaccination day.")
                    % {"age": _describe_age(drive.min_age_months)}
                ),
            )
        )
    if drive.max_age_months is not None and months >= drive.max_age_months:
        problems.append(
            Ineligibility(
                "too_old",
                str(
                    _("This drive is for people under %(age)s on the vaccination day.")
                    % {"age": _describe_age(drive.max_age_months)}
                ),
            )
        )
    if drive.sexes and patient.sex not in drive.sexes:
        allowed = ", ".join(str(Patient.Sex(sex).label) for sex in drive.sexes)
        problems.append(
            Ineligibility("sex", str(_("This drive is only for: %(sexes)s.") % {"sexes": allowed}))
        )
    if drive.risk_groups and not risk_groups_on(patient, day) & set(drive.risk_groups):
        groups = "; ".join(str(RiskGroup(group).label) for group in drive.risk_groups)
        problems.append(
            Ineligibility(
                "risk_group",
                str(
                    _(
                        "This drive is for people in these groups: %(groups)s. If one applies "
                        "to you, add it to your details first."
                    )
                    % {"groups": groups}
                ),
            )
        )
    if district_codes and patient.district_id not in district_codes:
        problems.append(
            Ineligibility(
                "district",
                str(
                    _(
                        "This drive is for residents of certain districts only. Check that "
                        "your home district in your details is right."
                    )
                ),
            )
        )
    return problems


def describe_rules(drive: VaccinationDrive, *, district_names: list[str]) -> list[str]:
    """The drive's rules in plain words, for showing before anyone books."""
    rules = []
    if drive.min_age_months is not None and drive.max_age_months is not None:
        rules.append(
            _("Aged %(youngest)s or over and under %(oldest)s on the vaccination day.")
            % {
                "youngest": _describe_age(drive.min_age_months),
                "oldest": _describe_age(drive.max_age_months),
            }
        )
    elif drive.min_age_months is not None:
        rules.append(
            _("Aged %(age)s or over on the vaccination day.")
            % {"age": _describe_age(drive.min_age_months)}
        )
    elif drive.max_age_months is not None:
        rules.append(
            _("Under %(age)s on the vaccination day.")
            % {"age": _describe_age(drive.max_age_months)}
        )
    if drive.sexes:
        rules.append(
            _("Only: %(sexes)s.")
            % {"sexes": ", ".join(str(Patient.Sex(sex).label) for sex in drive.sexes)}
        )
    if drive.risk_groups:
        rules.append(
            _("In one of these groups: %(groups)s.")
            % {"groups": "; ".join(str(RiskGroup(group).label) for group in drive.risk_groups)}
        )
    if district_names:
        rules.append(_("Living in: %(districts)s.") % {"districts": ", ".join(district_names)})
    return [str(rule) for rule in rules]


def anyone_eligible(
    drive: VaccinationDrive, people: list[Patient], day: date, *, district_codes: set[int]
) -> bool:
    """Whether any of the people (an account's household) meets every rule of the drive on
    the day: what "times someone on my account may book" keeps."""
    return any(
        not ineligibilities(drive, person, day, district_codes=district_codes) for person in people
    )
