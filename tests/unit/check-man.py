#!/usr/bin/python3
"""The man pages agree with the programs: every option --help lists is in
its page, every vmgatectl command of --help has an entry, every key of
vmgated.conf.sample is in vmgated.conf(5), and each built page renders with
man -l without warnings.

    check-man.py BUILD_DIR SOURCE_DIR
"""

import os
import re
import subprocess
import sys

build, source = sys.argv[1], sys.argv[2]
man_src = os.path.join(source, "docs", "man")
errors = []


def page(name):
    with open(os.path.join(man_src, name + ".scd")) as f:
        return f.read()


def help_of(program):
    p = subprocess.run([os.path.join(build, "bin", program), "--help"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    if p.returncode != 0:
        errors.append("%s --help: exit %d" % (program, p.returncode))
    return p.stdout


for program, name in (("vmgated", "vmgated.8"), ("vmgatectl", "vmgatectl.8"),
                      ("vmgate-shot", "vmgate-shot.1")):
    text, src = help_of(program), page(name)
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))
    if not options:
        errors.append("%s --help lists no options" % program)
    for opt in sorted(options):
        if "*%s*" % opt not in src and "*%s*|" % opt not in src:
            errors.append("%s: %s is in --help but not in %s.scd" % (program, opt, name))
    if program == "vmgatectl":
        commands = re.findall(r"^  ([a-z][a-z-]*(?: [a-z][a-z-]*)?)(?= [A-Z]|$| \[)", text, re.M)
        if len(commands) < 20:
            errors.append("vmgatectl --help: found only %d commands" % len(commands))
        for cmd in commands:
            if "*%s*" % cmd not in src:
                errors.append("vmgatectl: command '%s' is in --help but not in %s.scd" %
                              (cmd, name))

conf = page("vmgated.conf.5")
with open(os.path.join(source, "server", "daemon", "vmgated.conf.sample")) as f:
    keys = re.findall(r"^#([a-z_]+) = ", f.read(), re.M)
if len(keys) < 20:
    errors.append("vmgated.conf.sample: found only %d keys" % len(keys))
for key in keys:
    if "*%s*" % key not in conf:
        errors.append("vmgated.conf.sample key %s is not in vmgated.conf.5.scd" % key)

for name in ("vmgated.8", "vmgatectl.8", "vmgate-shot.1", "vmgated.conf.5"):
    path = os.path.join(build, "man", name)
    p = subprocess.run(["man", "--warnings", "-l", "-Tutf8", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60,
                       env=dict(os.environ, MANWIDTH="80"))
    shown = re.sub(".\b", "", p.stdout)  # overstrike bold and underline
    if p.returncode != 0 or p.stderr.strip() or "NAME" not in shown or "SEE ALSO" not in shown:
        errors.append("man -l %s: exit %d, %r" % (path, p.returncode, p.stderr.strip()[:300]))

for e in errors:
    print("FAIL:", e)
print("%d problems" % len(errors))
sys.exit(1 if errors else 0)
