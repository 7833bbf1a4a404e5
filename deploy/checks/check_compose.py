#!/usr/bin/env python3
"""Static checks of docker-compose.yml beyond the schema (no Docker engine runs in CI).

``docker-compose config`` (run first by scripts/check_deploy.sh, and here to get the
resolved file) validates the schema, interpolation and references. What it does not
know, and what would only show when someone runs ``docker compose up``:

- every service has a healthcheck with valid durations, and every depends_on waits
  for ``service_healthy``;
- published ports are bound to 127.0.0.1; bind-mounted files exist in the repository;
- no secret is a plain environment value: passwords and keys come as ``*_FILE`` /
  ``*__FILE`` paths under /run/secrets, from secrets the service mounts, whose files
  live in the git-ignored deploy/compose/secrets and are created by init-secrets.sh;
- the daemon's and the exchange's configuration (image ENV + compose environment +
  the config file baked into the image) loads and validates, their state
  directories are named volumes, and they agree with each other (FIX and
  market-data host/port, Redis host and ACL user, healthcheck ports);
- Prometheus gets its config and rules and scrapes the daemon where it listens;
  Grafana gets its provisioning, and the dashboard provider path is where the
  dashboards are mounted;
- rlexec containers are hardened: read-only root, all capabilities dropped,
  no-new-privileges, an init process, time to cancel orders on stop.

Usage: check_compose.py [--root DIR] [--docker-compose PATH]; exit 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import dockerfile_reader as df
import service_configs as sc
import yaml
from report import report

REQUIRED_SERVICES = ("redis", "exchange", "daemon", "prometheus", "grafana")
RLEXEC_SERVICES = ("exchange", "daemon")
SECRETS_DIR = "deploy/compose/secrets"
SECRET_NAME_RE = re.compile(r"PASSWORD|SECRET|TOKEN|HMAC|(^|_)KEY($|_)", re.IGNORECASE)
_DURATION_RE = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
NAMED_STATE = {"redis": ["/data"], "prometheus": ["/prometheus"], "grafana": ["/var/lib/grafana"]}


def duration_s(text: str) -> float | None:
    if not _DURATION_RE.match(text):
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in _DURATION_PART_RE.findall(text))


def resolved(root: Path, docker_compose: str) -> tuple[dict[str, Any] | None, str]:
    res = subprocess.run(
        [
            docker_compose,
            "--project-directory",
            str(root),
            "-f",
            str(root / "docker-compose.yml"),
            "config",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        return None, (res.stderr or res.stdout).strip()
    return yaml.safe_load(res.stdout), ""


def port_text(port: Any) -> str:
    """A published port as host_ip:published:target, whichever syntax compose printed."""
    if isinstance(port, dict):
        parts = [str(port[k]) for k in ("host_ip", "published", "target") if port.get(k)]
        return ":".join(parts)
    return str(port).removesuffix("/tcp")


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, is_named) for each volume of a resolved service."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            src, dst, kind = str(v.get("source", "")), str(v.get("target", "")), v.get("type")
            out.append((src, dst, kind == "volume"))
            continue
        parts = str(v).split(":")
        src, dst = parts[0], parts[1] if len(parts) > 1 else parts[0]
        out.append((src, dst, not src.startswith(("/", "."))))
    return out


def under(path: str, mount: str) -> bool:
    p, m = PurePosixPath(path), PurePosixPath(mount)
    return p == m or m in p.parents


def check_healthchecks(name: str, svc: dict[str, Any]) -> list[str]:
    problems = []
    hc = svc.get("healthcheck")
    if not hc or not hc.get("test"):
        return [f"services.{name}: no healthcheck"]
    if hc.get("disable"):
        return [f"services.{name}: healthcheck disabled"]
    for key in ("interval", "timeout", "start_period"):
        if key in hc and duration_s(str(hc[key])) is None:
            problems.append(
                f"services.{name}.healthcheck.{key}: {hc[key]!r} is not a duration (e.g. 10s)"
            )
    if "retries" in hc and not (isinstance(hc["retries"], int) and hc["retries"] > 0):
        problems.append(f"services.{name}.healthcheck.retries: expected a positive integer")
    return problems


def check(root: Path, docker_compose: str) -> list[str]:
    # Healthcheck values from the file as written: docker-compose v1 passes a malformed
    # duration through `config -q` and then crashes printing it.
    problems: list[str] = []
    try:
        raw = yaml.safe_load((root / "docker-compose.yml").read_text()) or {}
    except yaml.YAMLError as exc:
        return [f"docker-compose.yml: not YAML: {exc}"]
    for name, svc in (raw.get("services") or {}).items():
        problems += check_healthchecks(name, svc or {})
    doc, error = resolved(root, docker_compose)
    if doc is None:
        if "Traceback" in error:
            error = error.splitlines()[-1]
        return [*problems, f"docker-compose config failed: {error}"]
    services: dict[str, Any] = doc.get("services", {})
    for name in REQUIRED_SERVICES:
        if name not in services:
            problems.append(f"services: {name} is missing")
    if problems:
        return problems
    top_secrets: dict[str, Any] = doc.get("secrets", {}) or {}
    init_script = (root / "deploy/compose/init-secrets.sh").read_text()

    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            cond = spec.get("condition") if isinstance(spec, dict) else None
            if cond != "service_healthy":
                problems.append(
                    f"services.{name}.depends_on.{dep}: condition must be service_healthy (got {cond})"
                )
        for port in svc.get("ports", []):
            text = port_text(port)
            if not text.startswith("127.0.0.1:"):
                problems.append(f"services.{name}.ports: {text} must be bound to 127.0.0.1")
        for src, dst, named in volume_mounts(svc):
            if not named and not Path(src).exists():
                problems.append(f"services.{name}.volumes: {src} (-> {dst}) does not exist")
        mounted_secrets = {
            str(s.get("source") if isinstance(s, dict) else s) for s in svc.get("secrets", [])
        }
        for s in mounted_secrets:
            spec = top_secrets.get(s) or {}
            file = Path(str(spec.get("file", "")))
            if not under(str(file), str(root / SECRETS_DIR)):
                problems.append(
                    f"secrets.{s}: file must live in {SECRETS_DIR} (git-ignored), not {file}"
                )
            if s not in init_script:
                problems.append(f"secrets.{s}: deploy/compose/init-secrets.sh does not create it")
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(str(e).partition("=")[::2] for e in env)
        for key, value in env.items():
            if not SECRET_NAME_RE.search(key):
                continue
            if not key.endswith("_FILE"):
                problems.append(
                    f"services.{name}.environment.{key}: a secret as a plain value; give a *_FILE path under /run/secrets"
                )
                continue
            secret = PurePosixPath(str(value))
            if secret.parent != PurePosixPath("/run/secrets") or secret.name not in mounted_secrets:
                problems.append(
                    f"services.{name}.environment.{key}: {value} is not a secret this service mounts"
                )
        for key in (svc.get("build") or {}).get("args", {}) or {}:
            if SECRET_NAME_RE.search(key):
                problems.append(
                    f"services.{name}.build.args.{key}: build args end up in the image history"
                )
        for target in NAMED_STATE.get(name, []):
            if not any(named and dst == target for _, dst, named in volume_mounts(svc)):
                problems.append(f"services.{name}: {target} must be a named volume")

    cfg_problems, cfgs = check_rlexec_services(root, services)
    problems += cfg_problems
    problems += check_prometheus(root, services, cfgs.get("daemon"), cfgs.get("exchange"))
    problems += check_grafana(root, services)
    return problems


def _image_env_and_configs(root: Path) -> tuple[dict[str, str], dict[str, Path]]:
    _, stages, _ = df.load(root)
    final = stages[-1]
    configs: dict[str, Path] = {}
    for ins in final.all("COPY"):
        flags, words = ins.flags_and_words()
        if "from" in flags or len(words) < 2:
            continue
        dest = words[-1]
        for src in words[:-1]:
            target = dest + Path(src).name if dest.endswith("/") else dest
            configs[target] = root / src
    return final.env(), configs


def check_rlexec_services(root: Path, services: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    image_env, image_files = _image_env_and_configs(root)
    cfgs: dict[str, Any] = {}
    for name in RLEXEC_SERVICES:
        svc = services[name]
        build = svc.get("build") or {}
        if (
            Path(str(build.get("context", ""))).resolve() != root.resolve()
            or build.get("dockerfile", "Dockerfile") != "Dockerfile"
        ):
            problems.append(f"services.{name}: must be built from the repository's Dockerfile")
        if svc.get("image") != services["daemon"].get("image"):
            problems.append(f"services.{name}: daemon and exchange must run the same image")
        if svc.get("read_only") is not True:
            problems.append(f"services.{name}: read_only: true expected (state lives in volumes)")
        if "ALL" not in (svc.get("cap_drop") or []):
            problems.append(f"services.{name}: cap_drop: [ALL] expected")
        if not any("no-new-privileges" in str(o) for o in svc.get("security_opt") or []):
            problems.append(f"services.{name}: security_opt no-new-privileges expected")
        if svc.get("init") is not True:
            problems.append(
                f"services.{name}: init: true expected (signals reach rlexec, zombies reaped)"
            )
        if str(svc.get("restart", "no")) == "always":
            problems.append(f"services.{name}: restart: always restarts a failing trader forever")
        command = [str(c) for c in svc.get("command") or []]
        inv = sc.invocation(["rlexec", *command])
        if inv is None:
            problems.append(f"services.{name}: command must be an rlexec subcommand")
            continue
        env = {**image_env, **{k: str(v) for k, v in (svc.get("environment") or {}).items()}}
        file = image_files.get(inv.config) if inv.config else None
        cfg, errors = sc.load_service(f"services.{name}", inv, file, env)
        problems += errors
        if cfg is not None:
            cfgs[name] = cfg
    daemon, exchange = cfgs.get("daemon"), cfgs.get("exchange")
    if daemon is not None:
        d = services["daemon"]
        mounts = volume_mounts(d)
        if not any(named and under(str(daemon.node.data_dir), dst) for _, dst, named in mounts):
            problems.append(
                f"services.daemon: data_dir {daemon.node.data_dir} (journal, FIX store) is not on a named volume"
            )
        if daemon.http.host not in ("0.0.0.0", "::"):
            problems.append(
                "services.daemon: http.host must be 0.0.0.0 so Prometheus can scrape it"
            )
        hc = " ".join(str(t) for t in (d.get("healthcheck") or {}).get("test", []))
        if f":{daemon.http.port}/healthz" not in hc:
            problems.append(
                f"services.daemon.healthcheck: must probe /healthz on port {daemon.http.port}"
            )
        redis_url = urlsplit(daemon.redis.url)
        if redis_url.hostname != "redis":
            problems.append(
                f"services.daemon: redis.url must point at the redis service (got {daemon.redis.url})"
            )
        acl = (root / "deploy/redis/make-users-acl.sh").read_text()
        if not daemon.redis.username or f"user {daemon.redis.username} on" not in acl:
            problems.append(
                f"services.daemon: redis.username {daemon.redis.username!r} is not an ACL user of make-users-acl.sh"
            )
    if exchange is not None:
        e = services["exchange"]
        mounts = volume_mounts(e)
        state = [s.store_dir for s in exchange.fix.sessions if s.store_dir] + [exchange.audit.path]
        for path in state:
            if not any(named and under(str(path), dst) for _, dst, named in mounts):
                problems.append(f"services.exchange: {path} is not on a named volume")
        for host in (exchange.fix.host, exchange.marketdata.host):
            if host not in ("0.0.0.0", "::"):
                problems.append(
                    f"services.exchange: listens on {host}; the daemon container cannot reach it"
                )
        hc = " ".join(str(t) for t in (e.get("healthcheck") or {}).get("test", []))
        if f":{exchange.marketdata.port}/healthz" not in hc:
            problems.append(
                f"services.exchange.healthcheck: must probe /healthz on port {exchange.marketdata.port}"
            )
    if daemon is not None and exchange is not None:
        if daemon.fix.host != "exchange" or daemon.fix.port != exchange.fix.port:
            problems.append(
                f"daemon fix {daemon.fix.host}:{daemon.fix.port} is not the exchange's acceptor exchange:{exchange.fix.port}"
            )
        md = urlsplit(daemon.marketdata.url)
        if (md.hostname, md.port, md.path) != (
            "exchange",
            exchange.marketdata.port,
            exchange.marketdata.path,
        ):
            problems.append(
                f"daemon marketdata.url {daemon.marketdata.url} is not the exchange's ws://exchange:{exchange.marketdata.port}{exchange.marketdata.path}"
            )
        sessions = {(s.sender_comp_id, s.target_comp_id) for s in exchange.fix.sessions}
        if (daemon.fix.session.target_comp_id, daemon.fix.session.sender_comp_id) not in sessions:
            problems.append(
                "daemon FIX session (sender/target CompID) is not configured on the exchange"
            )
    return problems, cfgs


def check_prometheus(
    root: Path, services: dict[str, Any], daemon: Any, exchange: Any = None
) -> list[str]:
    problems = []
    svc = services["prometheus"]
    mounts = {dst: src for src, dst, _ in volume_mounts(svc)}
    conf_src = mounts.get("/etc/prometheus/prometheus.yml")
    if (
        conf_src is None
        or Path(conf_src).resolve() != (root / "deploy/prometheus/prometheus-compose.yml").resolve()
    ):
        problems.append(
            "services.prometheus: must mount deploy/prometheus/prometheus-compose.yml at /etc/prometheus/prometheus.yml"
        )
    rules_src = mounts.get("/etc/prometheus/rules")
    if (
        rules_src is None
        or Path(rules_src).resolve() != (root / "deploy/prometheus/rules").resolve()
    ):
        problems.append(
            "services.prometheus: must mount deploy/prometheus/rules at /etc/prometheus/rules"
        )
    if "--config.file=/etc/prometheus/prometheus.yml" not in [
        str(c) for c in svc.get("command") or []
    ]:
        problems.append(
            "services.prometheus: --config.file=/etc/prometheus/prometheus.yml expected"
        )
    conf = yaml.safe_load((root / "deploy/prometheus/prometheus-compose.yml").read_text())

    def targets(job_name: str) -> list[str]:
        return [
            t
            for job in conf.get("scrape_configs", [])
            if job.get("job_name") == job_name
            for sc_ in job.get("static_configs", [])
            for t in sc_.get("targets", [])
        ]

    # The exchange's /metrics is served on its market-data port (exchange/main.py).
    for job, service, cfg, port_of in (
        ("rlexec", "daemon", daemon, lambda c: c.http.port),
        ("exchange", "exchange", exchange, lambda c: c.marketdata.port),
    ):
        got = targets(job)
        want = f"{service}:{port_of(cfg)}" if cfg is not None else None
        if not got or (want is not None and got != [want]):
            problems.append(
                f"prometheus-compose.yml: job {job} must scrape {want or f'the {service} service'} (got {got})"
            )
    return problems


def check_grafana(root: Path, services: dict[str, Any]) -> list[str]:
    problems = []
    svc = services["grafana"]
    mounts = {dst: src for src, dst, _ in volume_mounts(svc)}
    prov = mounts.get("/etc/grafana/provisioning")
    if prov is None or Path(prov).resolve() != (root / "deploy/grafana/provisioning").resolve():
        problems.append(
            "services.grafana: must mount deploy/grafana/provisioning at /etc/grafana/provisioning"
        )
    providers = yaml.safe_load(
        (root / "deploy/grafana/provisioning/dashboards/rlexec.yml").read_text()
    )
    for p in providers.get("providers", []):
        path = str((p.get("options") or {}).get("path"))
        src = mounts.get(path)
        if src is None or Path(src).resolve() != (root / "deploy/grafana/dashboards").resolve():
            problems.append(
                f"services.grafana: dashboard provider path {path} is not where deploy/grafana/dashboards is mounted"
            )
    ds = yaml.safe_load(
        (root / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    for d in ds.get("datasources", []):
        url = urlsplit(str(d.get("url", "")))
        if url.hostname not in services or url.port != 9090:
            problems.append(f"grafana datasource url {d.get('url')} is not the prometheus service")
    env = svc.get("environment") or {}
    home = str(env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", ""))
    if home:
        mount = next((dst for dst in mounts if under(home, dst)), None)
        if (
            mount is None
            or not (Path(mounts[mount]) / PurePosixPath(home).relative_to(mount)).exists()
        ):
            problems.append(f"services.grafana: home dashboard {home} is not a mounted file")
    if "GF_SECURITY_ADMIN_PASSWORD__FILE" not in env:
        problems.append(
            "services.grafana: the admin password must come from a secret (GF_SECURITY_ADMIN_PASSWORD__FILE)"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--docker-compose", default="docker-compose")
    args = parser.parse_args(argv)
    problems = check(args.root.resolve(), args.docker_compose)
    return report("docker-compose.yml", problems)


if __name__ == "__main__":
    sys.exit(main())
