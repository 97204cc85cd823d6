"""`make run`'s port check: every busy port in one message, each with the variable that moves it."""

from __future__ import annotations

import socket

import pytest

from local.run import API_PORT, AWS_PORT, SPLASH_PORT, ensure_free
from tests.helpers import free_port

pytestmark = pytest.mark.unit


def _listening() -> socket.socket:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    return held


def test_every_busy_port_is_named_with_its_variable_in_one_line(monkeypatch):
    with _listening() as api, _listening() as splash:
        api_port, splash_port, aws_port = api.getsockname()[1], splash.getsockname()[1], free_port()
        monkeypatch.setenv("PRACTICEPAY_API_PORT", str(api_port))
        monkeypatch.setenv("PRACTICEPAY_AWS_PORT", str(aws_port))
        monkeypatch.setenv("PRACTICEPAY_SPLASH_PORT", str(splash_port))
        with pytest.raises(SystemExit) as refused:
            ensure_free(API_PORT, AWS_PORT, SPLASH_PORT)
    message = str(refused.value.code)
    assert len(message.splitlines()) == 1, message
    assert f"{api_port} (API, PRACTICEPAY_API_PORT)" in message, message
    assert f"{splash_port} (Splash sandbox, PRACTICEPAY_SPLASH_PORT)" in message, message
    assert "PRACTICEPAY_AWS_PORT" not in message and str(aws_port) not in message.split(";")[0], message


def test_one_busy_port_keeps_the_one_port_wording(monkeypatch):
    with _listening() as aws:
        port = aws.getsockname()[1]
        monkeypatch.setenv("PRACTICEPAY_API_PORT", str(free_port()))
        monkeypatch.setenv("PRACTICEPAY_AWS_PORT", str(port))
        monkeypatch.setenv("PRACTICEPAY_SPLASH_PORT", str(free_port()))
        with pytest.raises(SystemExit) as refused:
            ensure_free(API_PORT, AWS_PORT, SPLASH_PORT)
    message = str(refused.value.code)
    assert message.startswith(f"error: port {port} (embedded AWS (moto)) is in use; set PRACTICEPAY_AWS_PORT"), message
    assert "make run" in message


def test_free_ports_are_returned_and_a_port_given_twice_is_refused(monkeypatch):
    numbers = (free_port(), free_port(), free_port())
    for name, number in zip(
        ("PRACTICEPAY_API_PORT", "PRACTICEPAY_AWS_PORT", "PRACTICEPAY_SPLASH_PORT"), numbers, strict=True
    ):
        monkeypatch.setenv(name, str(number))
    if len(set(numbers)) == 3:
        assert ensure_free(API_PORT, AWS_PORT, SPLASH_PORT) == numbers
    monkeypatch.setenv("PRACTICEPAY_SPLASH_PORT", str(numbers[0]))
    with pytest.raises(SystemExit, match="PRACTICEPAY_API_PORT and PRACTICEPAY_SPLASH_PORT are both"):
        ensure_free(API_PORT, AWS_PORT, SPLASH_PORT)
