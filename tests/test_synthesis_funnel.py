"""A synthesis run that yields nothing usable says so, with the dominant reason."""

from __future__ import annotations

from digit_assets.engine.synthesis.funnel import funnel_rows, zero_yield_problem
from digit_assets.engine.synthesis.rollout import Event, Outcome


def _accepted(variant: str, index: int, recovery: bool | None = None) -> Outcome:
    events = [Event(None, "scenario", True), Event(0, "turn", True)]
    if recovery is not None:
        events.append(Event(0, "recovery", recovery, "" if recovery else "the hint names a parameter"))
    events += [Event(None, stage, True) for stage in ("rollout", "termination_schema", "judge")]
    return Outcome(f"{variant}-{index}", variant, True, None, events)


def _rejected(variant: str, index: int, stage: str, reason: str) -> Outcome:
    events = [Event(None, "scenario", True), Event(0, stage, False, reason), Event(None, "rollout", False, f"no complete turn ({reason})")]
    return Outcome(f"{variant}-{index}", variant, False, None, events, "rollout", reason)


def _problem(outcomes: list[Outcome]) -> str | None:
    rows = funnel_rows([(o.variant, e.turn, e.stage, e.accepted) for o in outcomes for e in o.events])
    return zero_yield_problem(outcomes, rows)


def test_a_run_with_conversations_in_every_variant_and_passable_stages_has_no_problem():
    assert _problem([_accepted("digit_tc", 0, recovery=True), _accepted("no_bt", 1), _rejected("no_bt", 2, "plan_filter", "x")]) is None


def test_a_variant_that_accepts_nothing_is_reported_with_its_dominant_stage_and_reason():
    outcomes = [
        _accepted("no_impl", 0),
        _rejected("digit_tc", 1, "back_translation", "missing add"),
        _rejected("digit_tc", 2, "back_translation", "missing add"),
        _rejected("digit_tc", 3, "request", "names a parameter"),
    ]
    problem = _problem(outcomes)
    assert problem is not None and "no_impl" not in problem
    assert problem == (
        "digit_tc accepted 0 of 3 conversations; most rejections at back_translation (2 of 3), most often (2x): missing add"
    )


def test_a_stage_that_refuses_everything_it_sees_is_reported_even_when_conversations_pass():
    problem = _problem([_accepted("digit_tc", 0, recovery=False), _accepted("digit_tc", 1, recovery=False)])
    assert problem == (
        "digit_tc: stage recovery_injection rejected all 2 turns that reached it; "
        "most rejections at recovery (2 of 2), most often (2x): the hint names a parameter"
    )


def test_reasked_simulations_have_their_own_row_and_a_failed_reask_fails_its_turn_at_simulation():
    fixed = _accepted("digit_tc", 0)
    fixed.events.insert(1, Event(0, "simulation_reask", True, "rename_file output does not show new_name='b.txt' (name='a.txt')"))
    lost = _rejected("digit_tc", 1, "simulation", "rename_file output does not show new_name='b.txt' (name='a.txt')")
    lost.events.insert(1, Event(0, "simulation_reask", False, "rename_file output does not show new_name='b.txt' (name='a.txt')"))
    rows = {(r["variant"], r["stage"]): r for r in funnel_rows([(o.variant, e.turn, e.stage, e.accepted) for o in (fixed, lost) for e in o.events])}
    assert (rows[("digit_tc", "simulation_reask")]["accepted"], rows[("digit_tc", "simulation_reask")]["rejected"]) == (1, 1)
    assert rows[("digit_tc", "simulation")]["rejected"] == 1 and rows[("digit_tc", "summary")]["accepted"] == 1
    assert _problem([fixed, lost]) is None
