"""A fake WeChat platform (API server, control client, user simulator) for dev and tests."""

from bot.fake_platform.app import FAKE_STATE_KEY, create_fake_app
from bot.fake_platform.control import FakeWeChatControl
from bot.fake_platform.simulator import SimReply, SimulatorError, UserSimulator
from bot.fake_platform.state import FakeWeChatState, Injection

__all__ = [
    "FAKE_STATE_KEY",
    "FakeWeChatControl",
    "FakeWeChatState",
    "Injection",
    "SimReply",
    "SimulatorError",
    "UserSimulator",
    "create_fake_app",
]
