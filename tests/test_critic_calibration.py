"""The critic calibration's command refuses bad input before generating anything."""

from __future__ import annotations

import pytest

from pakati.evals.critic_calibration import held_out, main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "0"], "must be at least 1"),
        (["--n", "2", "--samples", "/no/such/folder/s.json"], "its folder does not exist"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--json"])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_an_evidence_file_it_did_not_write_is_a_clear_error(tmp_path, capsys) -> None:
    samples = tmp_path / "s.json"
    samples.write_text('{"regions": 3}')
    with pytest.raises(SystemExit) as stop:
        main(["--samples", str(samples), "--json"])
    assert stop.value.code == 2 and "not an evidence file" in capsys.readouterr().err


def test_both_halves_hold_every_goal_category() -> None:
    halves = [[held_out(i) for i in range(k * 6, k * 6 + 6)] for k in range(4)]
    assert [set(h) for h in halves] == [{False}, {True}, {False}, {True}]
