"""The course's commands: `python -m coursetools run|seeds|strip|assignments|grading|student`.

    python -m coursetools run [--profile quick|gpu|paper] [--only 00 01] [--jobs N] [--smoke] [--out build]
        execute the notebooks with papermill (`make course`); executed notebooks, HTML and receipts.json
        in build/, a table of wall times and key numbers (coursetools.runner).
    python -m coursetools seeds --only 00 --seeds 0 1 2 3 4 [--jobs J]
        run notebooks over seeds; write the spread of every receipt number to results/seeds/
        (coursetools.seeds).
    python -m coursetools strip NOTEBOOK [--from EXECUTED]
        remove outputs, keeping (from EXECUTED, if given) those of `# NBVAL_CHECK_OUTPUT` cells
        (coursetools.notebooks).
    python -m coursetools assignments [--only 00 01] [--out build/assignments] [--validate] [--colab OWNER/REPO]
                                      [--revision TAG|COMMIT]
        release the student versions through nbgrader (`make assignments`): an nbgrader course directory
        with source/, release/ and gradebook.db; --validate also runs `nbgrader validate` on each notebook
        (coursetools.assignments; docs/instructors.md).
    python -m coursetools grading NOTEBOOK [...] [--check]
        lock the cells that must not change and tag the exercise cells (coursetools.assignments.prepare),
        then list what keeps a notebook from being gradable; --check changes nothing.
    python -m coursetools student NOTEBOOK [--out FOLDER]
        write one notebook's student version (through nbgrader, like `assignments`).
    python -m coursetools stamp [--revision REV|HEAD] [--absolute-links] [--only 00 01] [--check]
        pin the notebooks to a course revision: the setup cell's COURSE_REVISION, Colab install lines and
        revision check, the CHECKPOINT_TO_DRIVE parameter, the Colab badge and repository links at REV
        (--absolute-links: relative links too), pyproject.toml's [tool.coursetools] revision
        (coursetools.stamp; README.md, "On Colab").
"""
from __future__ import annotations

import argparse
from pathlib import Path

from helpers.runtime import PROFILES

from . import assignments, runner, seeds, stamp
from .notebooks import NOTEBOOK_DIR, REPO_ROOT, strip_outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursetools", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="execute the course notebooks with papermill")
    run_p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: COURSE_PROFILE, "
                                                       "else quick on CPU, gpu on GPU)")
    run_p.add_argument("--only", nargs="+", default=None, help="notebook numbers or names, e.g. 00 01")
    run_p.add_argument("--out", default="build", help="output folder (default build/)")
    run_p.add_argument("--notebooks", default=str(NOTEBOOK_DIR), help="folder of NN_*.ipynb notebooks")
    run_p.add_argument("--jobs", type=int, default=None, help="notebooks at a time (default: the number of cores "
                                                              "for quick and smoke runs, 1 on a GPU)")
    run_p.add_argument("--smoke", action="store_true", help="cap every size (SMOKE): the profile's code paths in seconds")
    seeds_p = sub.add_parser("seeds", help="run notebooks over several seeds; write the spread of their receipts")
    seeds_p.add_argument("--only", nargs="+", default=None, help="notebook numbers or names, e.g. 00 01")
    seeds_p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    seeds_p.add_argument("--profile", default="quick")
    seeds_p.add_argument("--jobs", type=int, default=None, help="runs at a time (default: the number of cores)")
    seeds_p.add_argument("--out", default="build/seeds", help="folder for the executed notebooks")
    seeds_p.add_argument("--results", default=str(REPO_ROOT / "results"), help="folder for the summaries")
    seeds_p.add_argument("--notebooks", default=str(NOTEBOOK_DIR))
    strip_p = sub.add_parser("strip", help="clear a notebook's outputs except its nbval reference cells")
    strip_p.add_argument("notebook")
    strip_p.add_argument("--from", dest="executed", default=None, help="an executed copy to take reference outputs from")
    assign_p = sub.add_parser("assignments", help="release the student versions through nbgrader")
    assign_p.add_argument("--only", nargs="+", default=None, help="notebook numbers or names, e.g. 00 01")
    assign_p.add_argument("--out", default="build/assignments", help="the nbgrader course directory to write")
    assign_p.add_argument("--notebooks", default=str(NOTEBOOK_DIR))
    assign_p.add_argument("--validate", action="store_true", help="also run nbgrader validate on every notebook "
                                                                  "(executes it, quick profile)")
    assign_p.add_argument("--smoke", action="store_true", help="validate with SMOKE on (seconds per notebook)")
    assign_p.add_argument("--colab", metavar="OWNER/REPO", default=None,
                          help="point the released notebooks' Colab badges at OWNER/REPO, where you will push "
                               "release/ as the repository root, and write release/README.md with the links")
    assign_p.add_argument("--branch", default="main", help="the branch of --colab (default main)")
    assign_p.add_argument("--revision", default="HEAD", help="the course revision the released notebooks install "
                                                            "on Colab: a tag or commit (default: HEAD's commit)")
    grading_p = sub.add_parser("grading", help="lock and tag a notebook's cells for nbgrader; list problems")
    grading_p.add_argument("notebooks", nargs="+")
    grading_p.add_argument("--check", action="store_true", help="only list the problems; change nothing")
    student_p = sub.add_parser("student", help="write one notebook's student version (through nbgrader)")
    student_p.add_argument("notebook")
    student_p.add_argument("--out", default="build/student")
    stamp_p = sub.add_parser("stamp", help="pin the notebooks to a course revision (setup cell, Drive, links)")
    stamp_p.add_argument("--revision", default=None, help="a tag or commit (HEAD: the checkout's commit); default: "
                                                         "pyproject.toml's [tool.coursetools] revision, else main")
    stamp_p.add_argument("--absolute-links", action="store_true", help="rewrite relative links (../results/..., "
                                                                       "other notebooks) as absolute ones at REV")
    stamp_p.add_argument("--only", nargs="+", default=None, help="notebook numbers or names, e.g. 00 01")
    stamp_p.add_argument("--notebooks", default=str(NOTEBOOK_DIR))
    stamp_p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook would change")
    stamp_p.add_argument("--no-record", action="store_true", help="leave pyproject.toml's revision as it is")
    args = parser.parse_args(argv)
    if args.command == "stamp":
        from .notebooks import select_notebooks
        return stamp.stamp(select_notebooks(args.only, Path(args.notebooks)), args.revision, args.absolute_links,
                           args.check, record=not args.no_record)
    if args.command == "run":
        return runner.run(args.profile, args.only, args.out, args.notebooks, args.jobs, args.smoke)
    if args.command == "seeds":
        return seeds.seeds(args.only, args.seeds, args.profile, args.jobs, args.out, args.results, args.notebooks)
    if args.command == "strip":
        strip_outputs(Path(args.notebook), Path(args.executed) if args.executed else None)
        return 0
    if args.command == "assignments":
        return assignments.release_assignments(args.only, args.out, args.notebooks, args.validate, args.smoke,
                                               args.colab, args.branch, args.revision)
    if args.command == "grading":
        return assignments.prepare_for_grading([Path(nb) for nb in args.notebooks], write=not args.check)
    print(assignments.student_version(Path(args.notebook), Path(args.out)))  # "student"
    return 0
