"""A missing or malformed setting stops start-up with one line naming the variable."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"WECHAT_AES_KEY": "short"}, "WECHAT_AES_KEY"),
        ({"WECHAT_AES_KEY_PREVIOUS": "!" * 43}, "WECHAT_AES_KEY_PREVIOUS"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"WECHAT_API_BASE": "ftp://x"}, "WECHAT_API_BASE"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PUBLIC_BASE_URL": "example.org"}, "PUBLIC_BASE_URL"),
        ({"FIELD_KEY": "c2hvcnQ="}, "FIELD_KEY"),
        ({"WECHAT_TOKEN": "x"}, "WECHAT_TOKEN"),
    ],
)
def test_bad_setting_names_the_variable(monkeypatch, env, variable):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    lines = str(exc.value).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"configuration error: {variable}:")


def test_secret_values_never_appear_in_the_error(monkeypatch):
    secret = "ThisIsASecretAesKeyThatIsWrong"
    monkeypatch.setenv("WECHAT_AES_KEY", secret)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert secret not in str(exc.value)


def test_secrets_are_hidden_in_repr():
    s = load_settings(wechat_appsecret="supersecret-value", wechat_token="tok-secret-1")
    assert "supersecret-value" not in repr(s) and "tok-secret-1" not in repr(s)


def test_serve_refuses_to_start_with_a_bad_setting():
    out = run_cli("serve", "--port", "0", env={"WECHAT_AES_KEY": "not-a-key"})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "configuration error: WECHAT_AES_KEY: WECHAT_AES_KEY must be 43 characters "
        "(WeChat EncodingAESKey), got 9"
    ]


def test_several_workers_need_redis():
    out = run_cli("serve", "--workers", "2", "--port", "0", env={"REDIS_URL": ""})
    assert out.returncode == 2
    assert "REDIS_URL" in out.stderr


def test_aes_keys_current_first():
    cur, prev = "a" * 43, "b" * 43
    s = load_settings(wechat_aes_key=cur, wechat_aes_key_previous=prev)
    assert s.aes_keys == [cur, prev]


@pytest.mark.parametrize("missing", ["WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_APPSECRET",
                                     "FIELD_KEY"])
def test_production_refuses_development_defaults(monkeypatch, missing):
    real = {"WECHAT_TOKEN": "prodtoken", "WECHAT_APPID": "wxprod00000000001",
            "WECHAT_APPSECRET": "prodsecret",
            "FIELD_KEY": "cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMhISE=",
            "WECHAT_API_BASE": "https://api.weixin.qq.com", "PRODUCTION": "true"}
    for key, value in real.items():
        if key != missing:
            monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert str(exc.value) == (f"configuration error: {missing}: required in production "
                              "(still the development default)")


def test_production_with_real_values_starts(monkeypatch):
    monkeypatch.setenv("PRODUCTION", "true")
    s = load_settings(wechat_token="prodtoken", wechat_appid="wxprod00000000001",
                      wechat_appsecret="prodsecret",
                      field_key="cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMhISE=",
                      wechat_api_base="https://api.weixin.qq.com")
    assert s.production
