"""The README quotes the main job's figures as BENCHMARKS.md's latest row of each precision path
(tools/bench_main.py) has them: a rerun of the bench that moves a figure fails here until the README
follows."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def table(section: str) -> list[dict[str, str]]:
    """The rows of the table under `section` of BENCHMARKS.md, by column header."""
    text = (ROOT / "BENCHMARKS.md").read_text().split(section, 1)[1]
    lines = [line for line in text.split("\n## ", 1)[0].splitlines() if line.startswith("|")]
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]
    header = cells(lines[0])
    return [dict(zip(header, cells(line))) for line in lines[2:]]


def quoted_main_job_figures(row: dict[str, str]) -> list[str]:
    """The phrases the README must contain for the bench row `row`."""
    curve = row["frames per clip at each evaluation"].split(", ")
    sim2sim_success, sim2sim_error = row["sim2sim: success / G-MPJPE mm"].split(" / ")
    frames_gap, error_gap = row["sim2sim − eval, largest per clip: frames / G-MPJPE mm"].split(" / ")
    return [f"{curve[0]} after the prior", f"{curve[-1]} at the end",
            f"success {row['success']}, G-MPJPE {row['G-MPJPE mm']} mm",
            f"sim2sim: success {sim2sim_success}, G-MPJPE {sim2sim_error} mm",
            f"at most {frames_gap} frames and {error_gap} mm"]


def latest_per_precision(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """The latest main-job row of each precision path (bf16, fp32)."""
    return {row["precision"]: row for row in rows}


def test_readme_quotes_the_main_jobs_latest_bench_row_per_precision() -> None:
    latest = latest_per_precision(table("## Main job: tools/bench_main.py"))
    assert latest, "BENCHMARKS.md has no main-job row"
    readme = " ".join((ROOT / "README.md").read_text().split())  # line breaks are spaces
    for precision, row in latest.items():
        missing = [phrase for phrase in quoted_main_job_figures(row) if phrase not in readme]
        assert not missing, f"README.md does not quote BENCHMARKS.md's {precision} main job: {missing}"


def test_the_check_reads_a_changed_figure_as_missing() -> None:
    row = table("## Main job: tools/bench_main.py")[-1]
    moved = dict(row, success="0.01")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert any(phrase not in readme for phrase in quoted_main_job_figures(moved))
