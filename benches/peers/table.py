"""Turns the `ROW | ...` lines of target/peers/session.log (written by
run_all.sh) into the Markdown table of docs/performance.md."""
import os
import sys

from _common import ROOT

COMMANDS = {
    "kde (peer)": "`cargo bench --bench kde_peers && python3 benches/peers/kde_peer.py`",
}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "session.log")
    section = None
    print("| peer | workload | peer time | darkprobe time | ratio | agreement | load | reproduce |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for line in open(path):
        if line.startswith("=== ") and "(peer)" in line:
            section = line[4:].split(":")[0]
        if not line.startswith("ROW |"):
            continue
        f = [x.strip() for x in line.split("|")[1:]]
        peer, work, tp, td, ratio, load = f[0], f[1], f[2], f[3], f[4], f[-1]
        agree = " | ".join(f[5:-1]).replace("|", "\\|")
        row = section.split(" ")[0] if section else "?"
        cmd = COMMANDS.get(section, f"`cargo bench --bench peers -- {row} && "
                                    f"python3 benches/peers/{row}_peer.py`")
        print(f"| {peer} | {work} | {tp[5:]} | {td[10:]} | {ratio[6:]} | {agree} | "
              f"{load[5:]} | {cmd} |")


if __name__ == "__main__":
    main()
