# SPDX-License-Identifier: Apache-2.0
"""The docs agree with the tree: README's layout names only folders and scripts that exist and
every module folder that does; docs/ARCHITECTURE.md points at nothing outside the repository."""
import os
import re

from conftest import SOURCE_DIR


def layout_rows():
    text = open(os.path.join(SOURCE_DIR, "README.md")).read()
    m = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, "README.md has no '## Layout' section"
    return [l.split("|")[1:3] for l in m.group(1).splitlines()
            if l.startswith("| `")]


def test_readme_layout_lists_what_exists():
    listed = set()
    for first, second in layout_rows():
        for folder in re.findall(r"`([\w.-]+)/`", first):
            listed.add(folder)
            path = os.path.join(SOURCE_DIR, folder)
            assert os.path.isdir(path), "README layout lists %s/, which does not exist" % folder
            # Files named in the row (scripts, bench programs) exist in that folder.
            for name in re.findall(r"`([\w.-]+\.(?:sh|py))`", second):
                assert os.path.exists(os.path.join(path, name)), \
                    "README layout names %s/%s, which does not exist" % (folder, name)
            for sub in re.findall(r"`([\w]+)/`", second):
                assert os.path.isdir(os.path.join(path, sub)), \
                    "README layout names %s/%s/, which does not exist" % (folder, sub)
    for name in os.listdir(SOURCE_DIR):
        if os.path.exists(os.path.join(SOURCE_DIR, name, "CMakeLists.txt")) and \
                not name.startswith("build"):
            assert name in listed, "README layout misses the folder %s/" % name


def test_architecture_stands_alone():
    text = open(os.path.join(SOURCE_DIR, "docs", "ARCHITECTURE.md")).read()
    assert "DESIGN.md" not in text and "../shared" not in text and "/work/" not in text
    # Paths of today's tree; the section on parts still to come names files to be.
    today = text.split("## Where the next parts live")[0]
    for path in re.findall(r"`((?:base|rpc|cdi|kube|devmodel|kubeletplugin|cmd|tests)/[\w./-]+)`",
                           today):
        assert os.path.exists(os.path.join(SOURCE_DIR, path.rstrip("/"))), \
            "docs/ARCHITECTURE.md names %s, which does not exist" % path
