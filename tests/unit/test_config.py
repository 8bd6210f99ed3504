"""Settings from the environment and the business config file: every mistake named with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderbot.config import ConfigError, load_config, parse_config
from orderbot.settings import SettingsError, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "orderbot.example.toml"


def test_example_config_is_valid_and_complete():
    config = load_config(EXAMPLE, required=True)
    assert {s.id for s in config.staff} >= {"wanglei", "zhoumin", "zhaoqiang"}
    assert config.eta.days_for("深圳", "US") == 5 and config.eta.days_for("广州", "US") == 8
    assert config.customs.grade_for("移动电源") == "C" and config.customs.grade_for("无此类目") == "A"
    assert config.hazmat["UN3481"].note == "含锂电池，需更换UN3481专用箱"
    assert {"cancel_rate", "returns_not_received", "repeat_orders", "customs_stuck"} <= config.rules.keys()
    assert config.rules["cancel_rate"].threshold == 0.035


def test_missing_optional_file_gives_defaults_and_required_reports_it(tmp_path):
    assert load_config(tmp_path / "none.toml").eta.default_days == 8
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "none.toml", required=True)


def test_errors_carry_line_and_key():
    text = EXAMPLE.read_text(encoding="utf-8")
    broken = text.replace('roles = ["customs"]', 'roles = ["customz"]').replace("days = 5", "days = -1")
    with pytest.raises(ConfigError) as info:
        parse_config(broken, "orderbot.toml")
    problems = {p.key: p for p in info.value.problems}
    roles = problems["staff.4.roles"]
    assert "unknown role" in roles.message
    assert broken.splitlines()[roles.line - 1].strip() == 'roles = ["customz"]'
    days = problems["eta.lanes.0.days"]
    assert broken.splitlines()[days.line - 1].strip() == "days = -1"
    assert str(days).startswith(f"orderbot.toml:{days.line}: eta.lanes.0.days:")


def test_unknown_key_and_toml_syntax_errors():
    with pytest.raises(ConfigError) as info:
        parse_config("[eta]\ndefault_days = 8\ndefualt = 3\n", "x.toml")
    (p,) = info.value.problems
    assert p.key == "eta.defualt" and p.line == 3
    with pytest.raises(ConfigError) as info:
        parse_config("[eta\n", "x.toml")
    assert info.value.problems[0].line == 1 and "TOML syntax" in info.value.problems[0].message


def test_duty_roster_must_name_known_staff():
    with pytest.raises(ConfigError, match="'nobody' is not in the staff list"):
        parse_config(
            '[[staff]]\nid = "a"\nname = "A"\nroles = ["warehouse_lead"]\n[duty.warehouse_lead]\nmon = "nobody"\n'
        )


def test_settings_report_each_bad_variable_by_name(monkeypatch):
    monkeypatch.setenv("ORDERBOT_PORT", "eighty")
    monkeypatch.setenv("ORDERBOT_DATABASE_URL", "mysql://x")
    monkeypatch.setenv("WECOM_ENCODING_AES_KEY", "short")
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None)
    names = {name for name, _ in info.value.problems}
    assert names == {"ORDERBOT_PORT", "ORDERBOT_DATABASE_URL", "WECOM_ENCODING_AES_KEY"}


def test_settings_keep_secrets_out_of_repr(monkeypatch):
    monkeypatch.setenv("WECOM_SECRET", "very-secret-value")
    settings = load_settings(env_file=None)
    assert settings.wecom_secret.get_secret_value() == "very-secret-value"
    assert "very-secret-value" not in repr(settings)


def test_carriers_clauses_and_purchasing_are_validated_with_their_place():
    config = load_config(EXAMPLE, required=True)
    yun = next(c for c in config.carriers if c.code == "YUNEXPRESS")
    assert {k.no: k.causes for k in yun.clauses}["8.2"] == ["port_congestion"]
    assert config.purchasing.staff == ["heping"]
    text = (
        '[[carriers]]\ncode = "DHL"\nname = "DHL"\n\n[[carriers.clauses]]\nno = "1"\ntext = "x"\n'
        'causes = ["strike"]\n\n[[carriers.clauses]]\nno = "1"\ntext = "y"\n'
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "t.toml")
    messages = [str(p) for p in err.value.problems]
    assert any("carriers.0.clauses.0.causes" in m and "strike" in m for m in messages)
    with pytest.raises(ConfigError, match="purchasing.staff: 'nobody'"):
        parse_config('[[staff]]\nid = "a"\nname = "A"\nroles = ["sales"]\n\n[purchasing]\nstaff = ["nobody"]\n')


def test_scan_roles_default_to_the_warehouse_and_unknown_ones_are_reported_with_their_line():
    assert parse_config("", "x.toml").warehouse.scan_roles == ["warehouse", "warehouse_lead"]
    assert parse_config('[warehouse]\nscan_roles = ["warehouse", "finance"]\n', "x.toml").warehouse.scan_roles == [
        "warehouse",
        "finance",
    ]
    with pytest.raises(ConfigError) as info:
        parse_config('[warehouse]\nscan_roles = ["warehouse", "packer"]\n', "x.toml")
    (p,) = info.value.problems
    assert p.key == "warehouse.scan_roles" and p.line == 2 and "packer" in p.message


def test_demo_settings_drop_every_credential_and_use_their_own_label_secret(tmp_path):
    from orderbot.sandbox.secrets import isolate
    from orderbot.settings import load_settings

    prod = load_settings(
        env_file=None,
        ORDERBOT_LABEL_SECRET="prod-labels",
        WECOM_SECRET="s",
        WECOM_CORP_ID="ww",
        DINGTALK_APP_KEY="k",
        DINGTALK_APP_SECRET="d",
        SMTP_URL="smtp://u:p@h",
        ORDERBOT_INGEST_SECRET="i",
        SHOPIFY_WEBHOOK_SECRET="sh",
    )
    demo, ignored = isolate(prod, tmp_path / "demo.db")
    assert demo.wecom_secret is None and demo.wecom_corp_id is None and demo.dingtalk_app_secret is None
    assert demo.smtp_url is None and demo.ingest_secret is None and demo.shopify_webhook_secret is None
    secret = demo.label_secret.get_secret_value()
    assert secret != "prod-labels" and secret.startswith("demo-")
    assert {"WECOM_SECRET", "DINGTALK_APP_SECRET", "ORDERBOT_LABEL_SECRET", "SMTP_URL"} <= set(ignored)
    again, _ = isolate(prod, tmp_path / "demo.db")  # the same demo database keeps its labels valid
    assert again.label_secret.get_secret_value() == secret
    assert (tmp_path / "demo.db.label-secret").stat().st_mode & 0o077 == 0


def test_the_demo_names_only_the_settings_someone_set(tmp_path, monkeypatch):
    from orderbot.sandbox.secrets import credential_fields, isolate
    from orderbot.settings import Settings, load_settings

    for name in credential_fields():  # a clean environment, as a newcomer's
        monkeypatch.delenv(Settings.model_fields[name].alias or name.upper(), raising=False)
    _, ignored = isolate(load_settings(env_file=None), tmp_path / "demo.db")
    assert ignored == []  # WECOM_AIBOT_WS_URL has a default: nobody set it
    _, ignored = isolate(load_settings(env_file=None, WECOM_AIBOT_WS_URL="wss://ws.example.com"), tmp_path / "d.db")
    assert ignored == ["WECOM_AIBOT_WS_URL"]
