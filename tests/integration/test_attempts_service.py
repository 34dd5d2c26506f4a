"""services/attempts.py on both backends: the attempt lifecycle, the history, optimistic
concurrency and the grade outbox row written in the same transaction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool import assessments
from lti_tool.assessments import ItemFormat
from lti_tool.persistence import models, utcnow
from lti_tool.services import activities, attempts
from lti_tool.services.attempts import AttemptServiceError, EvidenceInput, StaleAttempt


@dataclass
class FakeLaunch:
    registration: models.Registration
    context: models.LtiContext | None
    resource_link: models.ResourceLink | None
    user: models.LtiUser
    claims: dict[str, Any] = field(default_factory=dict)


def best_answer(item: assessments.Item) -> Any:
    """The raw answer that earns the item's maximum."""
    if item.format is ItemFormat.SINGLE_BEST:
        return max(item.options, key=lambda o: o.score or 0).identifier
    if item.format is ItemFormat.CHOOSE_TWO:
        best = sorted(item.options, key=lambda o: o.score or 0, reverse=True)[:2]
        return [o.identifier for o in best]
    if item.format is ItemFormat.RANK:
        return [o.identifier for o in sorted(item.options, key=lambda o: o.key_rank)]
    return {o.identifier: o.key_rating for o in item.options}


@dataclass
class World:
    db: Any
    content: assessments.Content
    registration: models.Registration
    context: models.LtiContext
    link: models.ResourceLink
    learner: models.LtiUser
    other: models.LtiUser
    educator: models.LtiUser

    def launch(self, user=None, *, link=..., context=..., custom=None) -> FakeLaunch:
        return FakeLaunch(self.registration, self.context if context is ... else context,
                          self.link if link is ... else link, user or self.learner,
                          {"custom": custom or {}})

    def activity(self, **settings) -> models.Activity:
        activity = activities.activity_for_launch(self.db, self.content, self.launch())
        if settings:
            current = activities.settings_of(activity)
            activity.settings = assessments.settings_to_dict(
                dataclasses.replace(current, **settings))
        self.db.flush()
        return activity

    def outbox(self, row=None) -> list[models.GradeOutbox]:
        statement = select(models.GradeOutbox).order_by(models.GradeOutbox.id)
        if row is not None:
            statement = statement.where(models.GradeOutbox.attempt_pk == row.id)
        return list(self.db.scalars(statement))


def make_user(db, registration, sub, name):
    user = models.LtiUser(registration_id=registration.id, sub=sub, name=name,
                          updated_at=utcnow())
    db.add(user)
    db.flush()
    return user


def make_context(db, registration, context_id):
    context = models.LtiContext(registration_id=registration.id, context_id=context_id,
                                title=f"Course {context_id}", updated_at=utcnow())
    db.add(context)
    db.flush()
    return context


def make_link(db, context, link_id, lineitem=None):
    link = models.ResourceLink(context_pk=context.id, resource_link_id=link_id,
                               title=f"Link {link_id}", lineitem_url=lineitem,
                               lineitems_url="https://lms.example/ags/lineitems",
                               ags_scopes=["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                               updated_at=utcnow())
    db.add(link)
    db.flush()
    return link


def build_world(dbs, runtime) -> World:
    """A registration with one course, one link, two learners and an educator."""
    now = utcnow()
    registration = models.Registration(
        name="LMS", issuer="https://lms.example", client_id="client-1",
        auth_login_url="https://lms.example/auth", auth_token_url="https://lms.example/token",
        key_set_url="https://lms.example/jwks", created_at=now)
    dbs.add(registration)
    dbs.flush()
    context = make_context(dbs, registration, "course-1")
    link = make_link(dbs, context, "link-1", "https://lms.example/ags/lineitems/1")
    return World(dbs, runtime.content, registration, context, link,
                 make_user(dbs, registration, "learner-1", "Alex Morgan"),
                 make_user(dbs, registration, "learner-2", "Sam Patel"),
                 make_user(dbs, registration, "teacher-1", "Chris Taylor"))


@pytest.fixture
def world(dbs, runtime) -> World:
    return build_world(dbs, runtime)


def answer_everything(world: World, row, *, best=True):
    attempt = attempts.domain_attempt(row)
    bank = world.content.bank_for(attempt.settings.dimension_id)
    dimension = world.content.framework.dimension(attempt.settings.dimension_id)
    answers = {}
    for indicator in dimension.indicators_up_to(attempt.settings.top_level):
        for item in bank.items_for(indicator.identifier):
            answers[item.identifier] = best_answer(item) if best else None
    return attempts.save_learner_work(world.db, world.content, row, row.version,
                                      answers=answers, actor=world.learner)


def rate_and_evidence_everything(world: World, row, rating=2):
    attempt = attempts.domain_attempt(row)
    dimension = world.content.framework.dimension(attempt.settings.dimension_id)
    ids = [i.identifier for i in dimension.indicators_up_to(attempt.settings.top_level)]
    return attempts.save_learner_work(
        world.db, world.content, row, row.version,
        self_ratings={i: rating for i in ids},
        evidence=[EvidenceInput("ev-1", "On the ward", "I suggested a change", "It worked",
                                tuple(ids))],
        actor=world.learner)


def kinds(world, row):
    return [e.kind for e in attempts.history(world.db, row)]


def test_start_pins_versions_and_settings(world):
    activity = world.activity()
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    world.db.commit()
    attempt = attempts.domain_attempt(row)
    assert row.status == "draft" and row.number == 1 and row.version == 1
    assert attempt.framework_version == world.content.framework.version
    assert attempt.settings == activities.settings_of(activity)
    assert attempts.settings_version_of(row) == activity.settings_version
    assert kinds(world, row) == ["started"]
    assert attempts.latest_attempt(world.db, activity, world.learner) is row
    assert attempts.latest_attempt(world.db, activity, world.other) is None
    # A second start while the first is open is refused.
    with pytest.raises(AttemptServiceError) as refused:
        attempts.start_attempt(world.db, world.content, activity, world.learner)
    assert refused.value.code == "attempt_open"


def test_save_records_only_changes_and_bumps_the_version(world):
    activity = world.activity()
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    world.db.commit()
    item = world.content.bank_for(activities.settings_of(activity).dimension_id).items[0]
    attempts.save_learner_work(world.db, world.content, row, 1,
                               answers={item.identifier: best_answer(item)},
                               actor=world.learner)
    world.db.commit()
    assert row.version == 2
    # The same answer again (an autosave with nothing new) changes nothing.
    attempts.save_learner_work(world.db, world.content, row, 2,
                               answers={item.identifier: best_answer(item)},
                               actor=world.learner)
    world.db.commit()
    assert row.version == 2
    assert kinds(world, row) == ["started", "answer_recorded"]
    stored = world.db.get(models.Attempt, row.id)
    assert attempts.domain_attempt(stored).answers[item.identifier] == assessments.parse_answer(
        item, best_answer(item))


def test_a_stale_version_is_refused_and_nothing_is_overwritten(world, runtime):
    activity = world.activity()
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    world.db.commit()
    indicator = world.content.framework.primary_dimension.indicators[0].identifier
    # Tab A saves (version 1 -> 2).
    attempts.save_learner_work(world.db, world.content, row, 1,
                               self_ratings={indicator: 2}, actor=world.learner)
    world.db.commit()
    # Tab B still holds version 1.
    with pytest.raises(StaleAttempt) as stale:
        attempts.save_learner_work(world.db, world.content, row, 1,
                                   self_ratings={indicator: 0}, actor=world.learner)
    assert stale.value.code == "attempt_stale"
    assert stale.value.current_version == 2
    world.db.rollback()
    assert attempts.domain_attempt(world.db.get(models.Attempt, row.id)).self_ratings == {
        indicator: 2}


def test_a_race_lost_at_flush_is_stale_too(world, runtime):
    activity = world.activity()
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    world.db.commit()
    indicator = world.content.framework.primary_dimension.indicators[0].identifier
    with runtime.sessionmaker() as other_db:
        other_row = other_db.get(models.Attempt, row.id)
        learner = other_db.get(models.LtiUser, world.learner.id)
        attempts.save_learner_work(other_db, world.content, other_row, 1,
                                   self_ratings={indicator: 1}, actor=learner)
        other_db.commit()
    # This session loaded version 1 before the other one committed.
    with pytest.raises(StaleAttempt):
        attempts.save_learner_work(world.db, world.content, row, 1,
                                   self_ratings={indicator: 2}, actor=world.learner)
    world.db.rollback()


def test_incomplete_answers_and_unlinked_evidence_are_kept_as_drafts(world):
    activity = world.activity()
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    rank = next(i for i in world.content.banks[0].items if i.format is ItemFormat.RANK)
    attempts.save_learner_work(
        world.db, world.content, row, row.version,
        incomplete_answers={rank.identifier: {"ranks": {rank.options[0].identifier: "1"}}},
        evidence=[EvidenceInput("ev-draft", "A situation", "", "", ())],
        actor=world.learner)
    world.db.commit()
    drafts = attempts.drafts_of(world.db.get(models.Attempt, row.id))
    assert drafts["answers"][rank.identifier] == {"ranks": {rank.options[0].identifier: "1"}}
    assert drafts["evidence"]["ev-draft"]["situation"] == "A situation"
    # Completing both moves them into the attempt and clears the drafts.
    indicator = rank.indicator_id
    attempts.save_learner_work(
        world.db, world.content, row, row.version,
        answers={rank.identifier: best_answer(rank)},
        evidence=[EvidenceInput("ev-draft", "A situation", "b", "c", (indicator,))],
        actor=world.learner)
    world.db.commit()
    stored = world.db.get(models.Attempt, row.id)
    assert attempts.drafts_of(stored) == {"answers": {}, "evidence": {}}
    assert attempts.domain_attempt(stored).evidence["ev-draft"].indicator_ids == (indicator,)


def test_oversize_evidence_is_refused(world):
    activity = world.activity()
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    indicator = world.content.framework.primary_dimension.indicators[0].identifier
    with pytest.raises(AttemptServiceError) as refused:
        attempts.save_learner_work(
            world.db, world.content, row, row.version,
            evidence=[EvidenceInput("e", "x" * 4001, "", "", (indicator,))],
            actor=world.learner)
    assert refused.value.code == "evidence_too_long"


def test_submit_without_review_is_final_and_queues_a_final_score(world):
    activity = world.activity(review_required=False)
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    answer_everything(world, row)
    rate_and_evidence_everything(world, row)
    attempts.submit(world.db, world.content, row, row.version, actor=world.learner)
    world.db.commit()
    assert row.status == "final" and row.level_achieved == 4
    assert row.submitted_at is not None and row.finalised_at is not None
    assert kinds(world, row)[-2:] == ["submitted", "finalised"]
    [outbox] = world.outbox(row)
    assert outbox.final is True
    assert outbox.payload["score"]["scoreGiven"] == 4 and outbox.payload["score"]["scoreMaximum"] == 4
    assert outbox.payload["score"]["gradingProgress"] == "FullyGraded"
    result = attempts.result_of(world.content, row)
    assert result.level_achieved == 4 and result.target_met
    # Learner work is locked now.
    with pytest.raises(AttemptServiceError) as locked:
        attempts.save_learner_work(world.db, world.content, row, row.version,
                                   self_ratings={}, actor=world.learner)
    assert locked.value.code == "attempt_locked"


def test_the_outbox_row_is_in_the_same_transaction(world, runtime):
    activity = world.activity(review_required=False)
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    world.db.commit()
    attempts.submit(world.db, world.content, row, row.version, actor=world.learner)
    world.db.rollback()  # the request failed after the submit: neither change survives
    fresh = world.db.get(models.Attempt, row.id)
    world.db.refresh(fresh)
    assert fresh.status == "draft"
    assert world.outbox() == []


def test_review_return_resubmit_and_sign_off(world):
    activity = world.activity(review_required=True, knowledge_check=False, top_level=2,
                              target_level=2)
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    rate_and_evidence_everything(world, row, rating=1)
    attempts.submit(world.db, world.content, row, row.version, actor=world.learner)
    world.db.commit()
    assert row.status == "submitted" and row.level_achieved is None
    [pending] = world.outbox(row)
    assert pending.final is False and pending.payload["score"]["gradingProgress"] == "PendingManual"
    assert "scoreGiven" not in pending.payload["score"]

    attempts.start_review(world.db, world.content, row, reviewer=world.educator)
    assert row.status == "in_review"
    level_1 = world.content.framework.primary_dimension.level(1).indicators
    attempts.save_review(world.db, world.content, row, row.version,
                         ratings={i.identifier: (1, "Say more") for i in level_1},
                         general_comment="Add an example for level 1",
                         reviewer=world.educator)
    attempts.return_to_learner(world.db, world.content, row, row.version,
                               comment="Please add detail", reviewer=world.educator)
    world.db.commit()
    assert row.status == "returned"
    returned = attempts.domain_attempt(row)
    assert returned.reviewer_comment == "Please add detail"
    assert returned.reviewer_ratings[level_1[0].identifier].comment == "Say more"

    # The learner edits evidence and self-ratings, then resubmits.
    rate_and_evidence_everything(world, row, rating=2)
    attempts.submit(world.db, world.content, row, row.version, actor=world.learner)
    attempts.start_review(world.db, world.content, row, reviewer=world.educator)
    dimension = world.content.framework.primary_dimension
    attempts.save_review(world.db, world.content, row, row.version,
                         ratings={i.identifier: (2, "") for i in dimension.indicators_up_to(2)},
                         general_comment=None, reviewer=world.educator)
    attempts.sign_off(world.db, world.content, row, row.version, reviewer=world.educator)
    world.db.commit()
    assert row.status == "final" and row.level_achieved == 2
    assert attempts.domain_attempt(row).signed_off_by == "Chris Taylor"
    history = attempts.history(world.db, row)
    assert [e.kind for e in history] == [
        "started", *["self_rated"] * 9, "evidence_saved", "submitted", "review_started",
        *["indicator_rated"] * 4, "reviewer_commented", "returned",
        # Unchanged evidence is not saved again: only the new self-ratings are recorded.
        *["self_rated"] * 9, "submitted", "review_started",
        *["indicator_rated"] * 9, "signed_off", "finalised"]
    assert {e.actor_pk for e in history if e.kind == "signed_off"} == {world.educator.id}
    assert history[-1].actor_name == "Chris Taylor"
    final = [o for o in world.outbox(row) if o.status == "pending"]
    assert final[-1].final and final[-1].payload["score"]["scoreGiven"] == 2


def test_override_sends_a_new_final_score_with_the_reason(world):
    activity = world.activity(review_required=False)
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    attempts.submit(world.db, world.content, row, row.version, actor=world.learner)
    world.db.commit()
    assert row.level_achieved == 0
    with pytest.raises(AttemptServiceError) as refused:
        attempts.override_level(world.db, world.content, row, row.version, level=2,
                                reason="  ", reviewer=world.educator)
    assert refused.value.code == "reason_required"
    attempts.override_level(world.db, world.content, row, row.version, level=2,
                            reason="Observed in practice", reviewer=world.educator)
    world.db.commit()
    assert row.level_achieved == 2
    assert kinds(world, row)[-1] == "overridden"
    latest = world.outbox(row)[-1]
    assert latest.final and latest.payload["score"]["scoreGiven"] == 2
    assert "Observed in practice" in latest.payload["score"]["comment"]


def test_second_attempt_after_a_final_one(world):
    activity = world.activity(review_required=False, new_attempts_allowed=True)
    first = attempts.start_attempt(world.db, world.content, activity, world.learner)
    attempts.submit(world.db, world.content, first, first.version, actor=world.learner)
    second = attempts.start_attempt(world.db, world.content, activity, world.learner)
    world.db.commit()
    assert second.number == 2 and second.status == "draft"
    assert attempts.latest_attempt(world.db, activity, world.learner).id == second.id
    assert [a.number for a in attempts.attempts_of(world.db, activity, world.learner)] == [2, 1]


def test_no_second_attempt_when_the_activity_forbids_it(world):
    activity = world.activity(review_required=False, new_attempts_allowed=False)
    first = attempts.start_attempt(world.db, world.content, activity, world.learner)
    attempts.submit(world.db, world.content, first, first.version, actor=world.learner)
    with pytest.raises(AttemptServiceError) as refused:
        attempts.start_attempt(world.db, world.content, activity, world.learner)
    assert refused.value.code == "attempt_not_allowed"


def test_illegal_transitions_have_stable_codes(world):
    activity = world.activity(review_required=True)
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    with pytest.raises(AttemptServiceError) as refused:
        attempts.sign_off(world.db, world.content, row, row.version, reviewer=world.educator)
    assert refused.value.code == "illegal_transition"
    with pytest.raises(AttemptServiceError) as not_yours:
        attempts.save_learner_work(world.db, world.content, row, row.version,
                                   self_ratings={}, actor=world.other)
    assert not_yours.value.code == "not_your_attempt"


@pytest.mark.parametrize("text, kinds_found", [
    ("His number is 943 476 5919 on the form", ["nhs_number"]),
    ("ref 943-476-5919", ["nhs_number"]),
    ("ref 9434765919.", ["nhs_number"]),
    ("ref 9434765918 is not valid", []),
    ("ring 01632 960 123 for the ward", []),
    ("DOB 12/03/1956", ["date_of_birth"]),
    ("date of birth: 3 March 1956", ["date_of_birth"]),
    ("I spoke to Mrs Smith about it", ["name"]),
    ("a patient called Brian", ["name"]),
    ("I raised it at the team meeting", []),
])
def test_identifiable_details(text, kinds_found):
    assert [d.kind for d in attempts.identifiable_details(text)] == kinds_found


def test_warnings_only_for_new_identifiable_text(world):
    activity = world.activity()
    row = attempts.start_attempt(world.db, world.content, activity, world.learner)
    indicator = world.content.framework.primary_dimension.indicators[0].identifier
    entry = EvidenceInput("e1", "Patient 943 476 5919 waited", "", "", (indicator,))
    assert list(attempts.evidence_warnings(row, [entry])) == ["e1"]
    attempts.save_learner_work(world.db, world.content, row, row.version, evidence=[entry],
                               actor=world.learner)
    # Saved (confirmed) once: the same text does not warn again; a new number does.
    assert attempts.evidence_warnings(row, [entry]) == {}
    changed = dataclasses.replace(entry, outcome="and 401 023 2137 too")
    assert [d.text for d in attempts.evidence_warnings(row, [changed])["e1"]] == [
        "401 023 2137"]
