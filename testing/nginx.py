"""The deploy stack's nginx on loopback, as the image runs it: the project's templates
rendered the way the image renders them, a main configuration around them with every path in
a prefix of the caller's, and a self-signed certificate where certbot puts a real one. The
deploy tests and bench/scaleout.py run Debian's nginx with them."""

import os
import subprocess
from pathlib import Path

NGINX_TEMPLATES = Path(__file__).resolve().parent.parent / "nginx" / "templates"


def render_nginx(conf_dir: Path, variables: dict[str, str]) -> None:
    """The nginx image's 20-envsubst-on-templates.sh: every defined variable, nothing else."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    names = " ".join(f"${{{name}}}" for name in variables)
    for template in sorted(NGINX_TEMPLATES.glob("*.conf.template")):
        rendered = subprocess.run(  # noqa: S603 - fixed argv
            ["envsubst", names],  # noqa: S607 - Debian's gettext-base, on PATH
            input=template.read_text(),
            env={**variables, "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (conf_dir / template.name.removesuffix(".template")).write_text(rendered)


def nginx_main_conf(
    prefix: Path, conf_dir: Path, *, worker_processes: str = "1", worker_connections: int = 128
) -> Path:
    """What the image's stock nginx.conf provides around conf.d, with every path in `prefix`
    (the stock limits, `auto` and 1024, where a benchmark needs them: bench/scaleout.py)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    main = prefix / "nginx.conf"
    main.write_text(
        f"{user}worker_processes {worker_processes};\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections {worker_connections}; }}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        f"  access_log {prefix / 'access.log'};\n  {temp}\n"
        f"  uwsgi_temp_path {prefix / 'uwsgi'}; scgi_temp_path {prefix / 'scgi'};\n"
        f"  include {conf_dir}/*.conf;\n}}\n"
    )
    return main


def self_signed_certificate(letsencrypt_dir: Path, domain: str) -> None:
    """Where certbot puts a real one: <dir>/live/<domain>/{fullchain,privkey}.pem."""
    live = letsencrypt_dir / "live" / domain
    live.mkdir(parents=True)
    subprocess.run(  # noqa: S603 - fixed argv
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={domain}", "-addext", f"subjectAltName=DNS:{domain}"),
            *("-keyout", str(live / "privkey.pem"), "-out", str(live / "fullchain.pem")),
        ],
        check=True,
        capture_output=True,
    )
