"""Screenshots of the web app's main pages, for the README (scripts/screenshots/*.png).

Serves `dialer web --demo`'s data (the demo campaign dialing on the simulated call centre,
sped up, and a preview campaign) in this process, lets it dial for a while, then drives
Debian's headless Chromium through Playwright as a manager and as an agent:

    .venv/bin/python scripts/screenshots.py [--out scripts/screenshots] [--warm-up 20]

Needs /usr/bin/chromium (scripts/install-chromium) and the dev extra (playwright).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dialer.cli.web import demo_start
from dialer.context import build_context
from dialer.daemon.scheduler import Daemon
from dialer.demo import find_demo_campaign, prepare_web_demo
from dialer.domain.clock import SystemClock
from dialer.settings import load_settings
from dialer.web.app import create_app
from dialer.web.server import WebServer

ROOT = Path(__file__).resolve().parent.parent
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MESSY = (
    "Customer #;Full name;Best number;Plan;Renewal;Notes\r\n"
    "C-1001;Renée Müller;(212) 555-0131;Gold;2026-04-01;prefers café hours\r\n"
    "C-1002;Søren Kierkegaard;2125550132;Silver;2026-04-02;\r\n"
    "C-1004;Zoë Brontë;n/a;Bronze;2026-04-04;no number on file\r\n"
    "C-1005;François Côté;1-646-555-0145;Gold;2026-04-05;\r\n"
    "C-1006;Ana Núñez;8.14404E+09;Silver;2026-04-06;digits lost in Excel\r\n"
    "C-1008;Mårten Ågren;415.555.0151;Bronze;2026-04-08;\r\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "scripts" / "screenshots")
    parser.add_argument("--warm-up", type=float, default=20.0, help="seconds of dialing before the screenshots")
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dialer-shots-") as tmp:
        work = Path(tmp)
        settings = load_settings(data_dir=work / "data", backend="simulated", sim_speed=args.speed)
        start = demo_start(__import__("datetime").datetime(2026, 3, 2, tzinfo=__import__("datetime").UTC))
        demo = prepare_web_demo(settings, workdir=work / "demo", campaign_file=find_demo_campaign(), now=start)
        settings = settings.model_copy(update={"database_url": f"sqlite:///{demo.database}"})
        ctx = build_context(settings, clock=SystemClock(speed=args.speed, start=start))
        passwords = {name: password for name, _role, password in demo.logins}
        messy = work / "renewals-export.csv"
        messy.write_bytes(MESSY.encode("cp1252", errors="replace"))
        try:
            app = create_app(ctx, pacer=Daemon(ctx, background=True, install_signals=False))
            with WebServer(app) as url, sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
                time.sleep(args.warm_up)

                def session(name: str):  # type: ignore[no-untyped-def]
                    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
                    page = context.new_page()
                    page.goto("/login")
                    page.fill("input[name=name]", name)
                    page.fill("input[name=password]", passwords[name])
                    page.click("button:has-text('Log in')")
                    page.wait_for_load_state()
                    return page

                def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
                    path = args.out / f"{name}.png"
                    page.screenshot(path=str(path), full_page=True)
                    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

                login = browser.new_context(base_url=url, viewport={"width": 1280, "height": 600}).new_page()
                login.goto("/login")
                shot(login, "login")
                manager = session("manager")
                time.sleep(1.5)
                shot(manager, "campaigns")
                manager.goto(f"/campaigns/{demo.campaigns[0]}")
                time.sleep(1.5)
                shot(manager, "campaign")
                manager.goto(f"/campaigns/{demo.campaigns[0]}/import")
                manager.set_input_files("input[type=file]", str(messy))
                manager.click("button:has-text('Upload and preview')")
                manager.wait_for_selector("#mapping-form")
                manager.select_option("select[name=map_phoneNumber]", "Best number")
                manager.select_option("select[name=map_recordHandle]", "Customer #")
                manager.click("#apply-mapping")
                manager.wait_for_selector("#import-form")
                shot(manager, "import-preview")
                manager.click("#start-import")
                manager.wait_for_selector("#import-done")
                shot(manager, "import-done")
                manager.goto("/dnc")
                shot(manager, "dnc")
                agent = session("agent")
                agent.goto(f"/desk/{demo.campaigns[1]}")
                agent.click("#next-record")
                agent.wait_for_selector("#record-handle")
                shot(agent, "desk")
                browser.close()
        finally:
            ctx.close()


if __name__ == "__main__":
    main()
