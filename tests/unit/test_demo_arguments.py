"""`gitopsctl demo`'s own flags are checked before anything starts: one sentence and exit 2."""

from __future__ import annotations

import pytest

from gitopsctl.cli import main


@pytest.mark.parametrize(
    ("flags", "sentence"),
    [
        (["--slack-port", "70000"], "'70000' is not a TCP port: give a number from 1 to 65535"),
        (["--slack-port", "-1"], "'-1' is not a TCP port"),
        (
            ["--slack-channel", 'x"\n[apps.evil]'],
            'is not a Slack channel: use "#name" or a channel ID such as C0123456',
        ),
    ],
)
def test_bad_demo_flags_are_refused_before_anything_starts(flags, sentence, capsys, monkeypatch):
    import demo.command as demo_command

    def must_not_start(*args, **kwargs):
        raise AssertionError("the demo started")

    monkeypatch.setattr(demo_command, "interactive", must_not_start)
    with pytest.raises(SystemExit) as exit_:
        main(["demo", *flags])
    assert exit_.value.code == 2
    assert sentence in capsys.readouterr().err
