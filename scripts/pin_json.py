"""Write the goldens of tests/test_json_pins.py: every `--json` output of one fixed day
(tests/json_pins.py), byte for byte, plus each run's argv and exit code (exit_codes.json).

Run it only when an output is MEANT to change (a new key, a new doctor check), then review the
diff of tests/golden/ like code:

    python scripts/pin_json.py            # rewrite tests/golden/
    python scripts/pin_json.py --check    # exit 1 and name the files that differ
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.json_pins import GOLDEN, codes, collect, golden_path

CODES = GOLDEN / "exit_codes.json"


def expected() -> dict[Path, str]:
    outputs = collect()
    files = {golden_path(o.name): o.out for o in outputs}
    files[CODES] = codes(outputs)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    check = parser.parse_args().check
    files = expected()
    stale = sorted(p.name for p in GOLDEN.glob("*.json") if p not in files)
    differ = [
        p.name
        for p, text in files.items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    if check:
        for name in differ + stale:
            print(f"differs from the code: tests/golden/{name}")
        return 1 if differ or stale else 0
    GOLDEN.mkdir(exist_ok=True)
    for name in stale:
        (GOLDEN / name).unlink()
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    print(
        f"wrote {len(files)} files to tests/golden/ ({len(differ)} changed, {len(stale)} removed)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
