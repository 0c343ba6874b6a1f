import pytest

from clinics.models import HealthCentre, StaffMembership
from clinics.permissions import ROLE_ACTIONS, StaffAction, actions_at, can_act_at, centres_where
from clinics.services import grant_membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

Role = StaffMembership.Role


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.CENTRE_ADMIN, set(StaffAction)),
        (
            Role.SCHEDULER,
            {
                "manage_schedule",
                "view_appointments",
                "receive_patients",
                "cancel_appointments",
                "manage_stock",
                "book_for_patients",
            },
        ),
        (
            Role.NURSE,
            {
                "view_appointments",
                "receive_patients",
                "consult",
                "cancel_appointments",
                "manage_stock",
                "book_for_patients",
            },
        ),
        (Role.CLINICIAN, {"view_appointments", "receive_patients", "consult"}),
    ],
)
def test_each_role_may_do_its_own_work_at_its_own_centre_only(reference_data, role, allowed):
    user = UserFactory()
    grant_membership(user=user, centre=HealthCentre.objects.get(number=5), role=role)

    for action in StaffAction:
        assert can_act_at(user, action, 5) == (action in allowed), action
        assert not can_act_at(user, action, 6)
    assert ROLE_ACTIONS[role] == allowed


def test_roles_at_two_centres_are_separate(reference_data):
    user = UserFactory()
    grant_membership(user=user, centre=HealthCentre.objects.get(number=1), role=Role.SCHEDULER)
    grant_membership(user=user, centre=HealthCentre.objects.get(number=2), role=Role.CLINICIAN)

    assert centres_where(user, StaffAction.MANAGE_SCHEDULE) == {1}
    assert centres_where(user, StaffAction.CONSULT) == {2}
    assert centres_where(user, StaffAction.VIEW_APPOINTMENTS) == {1, 2}


def test_superusers_act_everywhere_and_patients_nowhere(reference_data, patient, city_admin):
    assert centres_where(city_admin, StaffAction.MANAGE_STAFF) is None
    assert centres_where(patient.account, StaffAction.VIEW_APPOINTMENTS) == set()


def test_an_inactive_staff_account_has_no_rights(reference_data, nurse_at_centre_1):
    nurse_at_centre_1.is_active = False
    assert not can_act_at(nurse_at_centre_1, StaffAction.VIEW_APPOINTMENTS, 1)


def test_everything_a_member_may_do_at_a_centre_is_read_at_once(
    reference_data, nurse_at_centre_1, city_admin, django_assert_num_queries
):
    with django_assert_num_queries(1):
        at_1 = actions_at(nurse_at_centre_1, 1)

    assert at_1 == ROLE_ACTIONS[Role.NURSE]
    assert actions_at(nurse_at_centre_1, 2) == frozenset()
    assert actions_at(city_admin, 2) == frozenset(StaffAction)
