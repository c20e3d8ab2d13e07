"""The rule file: checked from the shell, read again when it changes."""

from __future__ import annotations

import os
from pathlib import Path

from eventio.rulefile import RuleFile, main

GOOD = "rules:\n  - {name: hot, type: TEMP, threshold: 80}\n"
BAD = "rules:\n  - {name: hot, type: TEMP, threshold: 80}\n  - {name: cold, op: '=<'}\n"


def test_check_says_success_or_the_line_and_problem(tmp_path: Path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    assert main(["check", str(good)]) == 0
    assert "SUCCESS: 1 rules found" in capsys.readouterr().out
    assert main(["check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"FAILED: {bad}: line 3: rules[1].op" in out


def test_a_changed_file_is_read_again_and_a_broken_one_keeps_the_rules(tmp_path: Path, caplog):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    rules = RuleFile.open(path)
    assert [r.threshold for r in rules.current()] == [80]
    path.write_text(GOOD.replace("80", "95"))
    os.utime(path, ns=(1, 1))  # a different stamp, whatever the clock's resolution
    assert [r.threshold for r in rules.current()] == [95]
    path.write_text(BAD)
    assert [r.threshold for r in rules.current()] == [95]
    assert "line 3: rules[1].op" in caplog.text
    assert "the rules in force stay" in caplog.text
