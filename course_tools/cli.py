"""One command line for instructors and CI: python -m course_tools <command>."""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from course_tools import autograder, config, gradebook, grading, lms, notebook, processes, release, runner, scoring
from course_tools.sandbox import SandboxUnavailable

DEFAULT_TIMEOUT = {"full": 1800, "smoke": 600}


def simulate_autograder(argv: list[str]) -> int:
    """`autograder simulate ZIP ROOT`: Gradescope's /autograder laid out in ROOT from an autograder zip."""
    parser = argparse.ArgumentParser(prog="course_tools autograder simulate", description=(
        "Lay out ROOT as Gradescope lays out /autograder from an autograder zip (source/, run_autograder, a venv "
        "that is this Python's, data/ from install_data.sh), to try the zip on this machine."))
    parser.add_argument("zip", type=Path, help="the zip `autograder LESSON OUT` wrote")
    parser.add_argument("root", type=Path, help="a new (or empty) folder to play /autograder")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if not args.zip.is_file():
            raise ValueError(f"{args.zip} is not a file: give the zip `autograder LESSON OUT` wrote.")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ValueError(f"{root} exists and is not an empty folder: name a new one.")
        autograder.simulate(args.zip, root)
        for folder in ("submission", "results"):
            (root / folder).mkdir()
    except (ValueError, OSError, subprocess.CalledProcessError) as error:
        print(f"autograder simulate: {error}", file=sys.stderr)
        return 2
    print(f"laid out {root} as Gradescope's /autograder. Put a student's notebook in {root / 'submission'}/, then run\n"
          f"  AUTOGRADER_ROOT={shlex.quote(str(root))} {shlex.quote(str(root / 'run_autograder'))}\n"
          f"and read {root / 'results' / 'results.json'}")
    return 0


def _canvas_column(text: str) -> tuple[str, str]:
    lesson, equals, name = text.partition("=")
    if not equals or not lesson or not name:
        raise argparse.ArgumentTypeError(f"give LESSON=NAME, such as \"01_rnn_basics=Lesson 1 (123456)\" (got {text!r})")
    return lesson, name


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["autograder", "simulate"]:
        return simulate_autograder(argv[2:])
    parser = argparse.ArgumentParser(prog="course_tools", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("student", help="regenerate notebooks/ from solutions/")
    commands.add_parser("check", help="check the committed notebooks without running them")

    run = commands.add_parser("run", help="execute solution notebooks and write a report")
    run.add_argument("lessons", nargs="*", help="lesson prefixes such as 01 (default: all)")
    run.add_argument("--profile", choices=("full", "smoke"), default="full")
    run.add_argument("--out", type=Path, help="executed notebooks (default build/executed or build/smoke)")
    run.add_argument("--report", type=Path, help="folder for report.json and report.md")
    run.add_argument("--timeout", type=float, help="seconds per notebook (default 1800 full, 600 smoke)")

    refresh = commands.add_parser("refresh", help="store the outputs of a full run in solutions/")
    refresh.add_argument("lessons", nargs="*", help="lesson prefixes (default: all)")
    refresh.add_argument("--report", type=Path, default=config.BUILD / "report.json")

    limits = argparse.ArgumentParser(add_help=False)  # each submission's limits, for every command that grades
    limits.add_argument("--timeout", type=float, default=scoring.DEFAULT_TIMEOUT,
                        help=f"seconds per submission (default {scoring.DEFAULT_TIMEOUT})")
    limits.add_argument("--memory-mb", type=int, default=scoring.DEFAULT_MEMORY_MB,
                        help=f"address-space limit of each submission's kernel in MB (default {scoring.DEFAULT_MEMORY_MB})")
    limits.add_argument("--unsandboxed", action="store_true",
                        help="run submissions without a sandbox: student code then runs as you, can read the answer key "
                             "and other submissions and change grades (only for work you trust)")
    grade = commands.add_parser("grade", parents=[limits],
                                help="grade a folder of submissions: grades.csv, feedback, executed notebooks")
    grade.add_argument("lesson", help="the lesson prefix, such as 01")
    grade.add_argument("submissions", type=Path, help="<dir>/<student>.ipynb or <dir>/<student>/<anything>.ipynb")
    grade.add_argument("out", type=Path, help="a new (or empty) folder for grades.csv, feedback/ and executed/")
    grade.add_argument("--workers", type=int, help="notebooks graded at once (default: number of cores)")
    grade.add_argument("--max-output-mb", type=float, default=scoring.DEFAULT_MAX_OUTPUT_MB,
                       help=f"outputs kept per notebook in MB (default {scoring.DEFAULT_MAX_OUTPUT_MB:g})")
    grade.add_argument("--roster", type=Path, help="a CSV with the columns student (the submission's name), id, "
                                                    "name, email: adds them to grades.csv and reports who is missing")
    grade.add_argument("--only", metavar="NAME", help="regrade this one student into the existing OUT")
    grade.add_argument("--scheduler", help="a Dask scheduler's address, such as tcp://host:8786: one task per "
                                           "submission on that cluster instead of workers on this machine")

    visibility = argparse.ArgumentParser(add_help=False)
    visibility.add_argument("--hidden-visibility", choices=autograder.VISIBILITIES, default="after_published",
                            help="when students see the tests that hold hidden tests (default after_published)")
    gradescope = commands.add_parser("autograder", parents=[limits, visibility],
                                     help="write a lesson's Gradescope autograder zip into a folder; "
                                          "`autograder simulate ZIP ROOT` lays out Gradescope's /autograder "
                                          "from it in ROOT, to run it on this machine")
    gradescope.add_argument("lesson", help="the lesson prefix, such as 01")
    gradescope.add_argument("out", type=Path, help="the folder for <lesson>-autograder.zip")
    gradescope.add_argument("--data", type=Path, help="a folder holding the lesson's data files (as COURSE_DATA_DIR "
                                                      "does), put in the zip; needed for lesson 05's tweets")
    autograde = commands.add_parser("autograde", parents=[limits, visibility],
                                    help="grade ROOT/submission/ into ROOT/results/results.json (run_autograder runs it)")
    autograde.add_argument("lesson", help="the lesson prefix, such as 01")
    autograde.add_argument("--root", type=Path, default=Path("/autograder"), help="Gradescope's root (default /autograder)")

    publish = commands.add_parser("release", help="write the student repository (no solutions, no hidden tests)")
    publish.add_argument("out", type=Path, help="a new or empty folder for the release")
    publish.add_argument("--repo", default=config.GITHUB_REPO,
                         help=f"GitHub owner/name the release is published at (default {config.GITHUB_REPO})")
    publish.add_argument("--branch", default=config.BRANCH, help=f"its branch (default {config.BRANCH})")

    book = commands.add_parser("gradebook", help="join several lessons' graded folders into gradebook.csv and canvas.csv")
    book.add_argument("graded", type=Path, nargs="+", help="the OUT folders of `grade`, one per lesson")
    book.add_argument("--out", type=Path, required=True, help="the folder for gradebook.csv and canvas.csv")
    book.add_argument("--canvas-column", type=_canvas_column, action="append", default=[], metavar="LESSON=NAME",
                      help="the column of a lesson in canvas.csv, such as \"01_rnn_basics=Lesson 1 (123456)\" as "
                           "Canvas's export names its assignment (default: the lesson; repeat for each lesson)")

    override = commands.add_parser("override", help="set one student's points for one check by hand; kept in "
                                                    "GRADED/overrides.csv through regrades, shown in the gradebook")
    override.add_argument("graded", type=Path, help="the OUT of `grade`")
    override.add_argument("student", help="the student's submission name, as in grades.csv")
    override.add_argument("check", help="the check's grade_id, as in grades.csv's columns")
    override.add_argument("points", type=float, help="the points, from 0 to the check's points")
    override.add_argument("--by", required=True, help="who sets them (kept with the time)")
    override.add_argument("--reason", default="", help="why (kept, and shown in the student's feedback)")

    due = commands.add_parser("due", help="record a lesson's due date, late policy and submission times in GRADED; "
                                          "the gradebook takes each late submission's penalty from them")
    due.add_argument("graded", type=Path, help="the OUT of `grade`")
    due.add_argument("--due", required=True, help="the due date and time, such as 2026-12-01T23:59 (this machine's "
                                                  "time zone) or 2026-12-01T23:59+01:00")
    due.add_argument("--late-penalty", default="0%/day", help="share of the lesson's points taken for each day (or "
                                                              "hour) begun after the due date: 10%%/day, 2%%/hour "
                                                              "(default 0%%/day: late work is only marked)")
    due.add_argument("--late-cap", default="100%", help="the most a late penalty takes (default 100%%)")
    due.add_argument("--grace", default="0min", help="time after the due date still on time: 15min, 2h, 1d")
    times = due.add_mutually_exclusive_group(required=True)
    times.add_argument("--times", type=Path, help="a CSV with the columns student and submitted (such as the roster)")
    times.add_argument("--submissions", type=Path, help="the SUBMISSIONS folder that was graded: Gradescope's "
                                                        "submission_metadata.json in a student's folder, else the "
                                                        "notebook's modification time")

    canvas = commands.add_parser("collect", help="map Canvas's bulk download of submissions to the roster's "
                                                 "students: a folder `grade` reads")
    canvas.add_argument("download", type=Path, help="Canvas's submissions.zip, or the folder it was unpacked into")
    canvas.add_argument("out", type=Path, help="a new folder: OUT/<student>/<file> for each student")
    canvas.add_argument("--roster", type=Path, required=True, help="the roster, with a canvas_id column (each "
                                                                   "student's Canvas user id)")

    args = parser.parse_args(argv)
    if args.command in ("run", "grade", "autograde"):
        processes.raise_on_signals()  # workers and kernels are ended in `finally` blocks
    try:
        if args.command == "student":
            for path in notebook.write_students():
                print(f"wrote {path.relative_to(config.ROOT)}")
            return 0
        if args.command == "check":
            problems = notebook.check_repository()
            for problem in problems:
                print(problem, file=sys.stderr)
            print(f"check: {len(problems)} problem(s)" if problems else "check: all notebooks are in order")
            return 1 if problems else 0
        if args.command == "run":
            default_out = config.BUILD / ("executed" if args.profile == "full" else "smoke")
            out = args.out or default_out
            report_dir = args.report or (config.BUILD if args.profile == "full" else out)
            report = runner.run_course(
                runner.select(args.lessons), args.profile, out, report_dir,
                args.timeout or DEFAULT_TIMEOUT[args.profile],
            )
            failed = runner.failed(report)
            print(f"Report: {report_dir / 'report.md'}; {len(report['notebooks']) - len(failed)} ok, "
                  f"{len(failed)} not ok{': ' + ', '.join(failed) if failed else ''}; {report['seconds'] / 60:.1f} min")
            return 1 if failed else 0
        if args.command == "refresh":
            for path in runner.refresh_solutions(args.report, args.lessons):
                print(f"refreshed {path.relative_to(config.ROOT)}")
            return 0
        if args.command == "release":
            out = release.write_release(args.out, args.repo, args.branch)
            print(f"Student release of {args.repo} ({args.branch}) committed in {out}")
            return 0
        if args.command == "autograder":
            path = autograder.build(args.lesson, args.out, args.hidden_visibility, args.timeout, args.memory_mb,
                                    unsandboxed=args.unsandboxed, data=args.data)
            print(f"wrote {path}: upload it as the assignment's autograder on Gradescope")
            return 0
        if args.command == "autograde":
            document = autograder.autograde(args.lesson, args.root, args.hidden_visibility, args.timeout, args.memory_mb,
                                            args.unsandboxed)
            print(f"score {document['score']:g}; wrote {args.root / 'results' / 'results.json'}")
            return 0
        if args.command == "grade":
            grading.grade(args.lesson, args.submissions, args.out, workers=args.workers, timeout=args.timeout,
                          memory_mb=args.memory_mb, max_output_mb=args.max_output_mb, scheduler=args.scheduler,
                          unsandboxed=args.unsandboxed, roster=args.roster, only=args.only)
            return 0
        if args.command == "gradebook":
            for path in gradebook.write_gradebook(args.graded, args.out, dict(args.canvas_column)):
                print(f"wrote {path}")
            return 0
        if args.command == "override":
            print(gradebook.record_override(args.graded, args.student, args.check, args.points, args.by, args.reason))
            return 0
        if args.command == "due":
            batch, _ = gradebook.read_graded(args.graded)
            found = (lms.times_from_csv(args.times) if args.times is not None
                     else lms.times_from_folder(args.submissions, batch["lesson"]))
            policy = {"due": args.due, "late_penalty": args.late_penalty, "late_cap": args.late_cap,
                      "grace": args.grace}
            for line in lms.record_due(args.graded, policy, found):
                print(line)
            print(f"wrote {args.graded / 'due.json'}")
            return 0
        if args.command == "collect":
            for line in lms.collect(args.download, args.roster, args.out):
                print(line)
            return 0
    except (ValueError, OSError, SandboxUnavailable) as error:  # NotebookError is a ValueError
        print(f"{args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the `finally` blocks have ended every worker and kernel
        print(f"{args.command}: interrupted; its workers and kernels were ended", file=sys.stderr)
        return 130
    return 0
