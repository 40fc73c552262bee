"""grub.cfg: GRUB-script quoting, the menu tree with id scoping, and real generated configs.

Real configs come from Debian's own generator: ``grub-mkconfig`` runs in a private mount
namespace in which a stub answers grub-probe's questions about the (absent) disk, and /boot
and /etc/default are bind-mounted from the test's directory. Everything else (00_header,
10_linux, their quoting and ids) is the real Debian 2.06 output. ``grub-script-check`` is the
oracle for what GRUB's parser accepts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import support
from bootup.boot import defaultgrub, grubcfg
from bootup.boot.resolve import resolve_config, resolve_value

UUID = "0f2b6a5e-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
KERNELS = ("6.1.0-25-amd64", "6.1.0-56-amd64")

_PROBE = f"""#!/bin/sh
# grub-probe stand-in: the facts of a one-partition msdos disk with ext4.
target=""
for a in "$@"; do case "$a" in --target=*) target="${{a#--target=}}";; esac; done
case "$target" in
  device) echo /dev/sda1;;
  fs) echo ext2;;
  fs_uuid) echo {UUID};;
  partuuid) echo 1234abcd-01;;
  partmap) echo msdos;;
  abstraction) echo;;
  drive) echo '(hd0,msdos1)';;
  compatibility_hint) echo 'hd0,msdos1';;
  *hints*) echo '--hint-bios=hd0,msdos1 --hint-efi=hd0,msdos1 --hint-baremetal=ahci0,msdos1';;
  cryptodisk_uuid) ;;
  *) echo "stub grub-probe: unknown target $target" >&2; exit 1;;
esac
"""
_RELPATH = '#!/bin/sh\nfor a; do p="$a"; done\necho "$p"\n'


def generate_root(tmp_path: Path, default_grub: str, kernels: tuple[str, ...] = KERNELS) -> Path:
    """A root directory whose boot/grub/grub.cfg was written by Debian's grub-mkconfig."""
    mkconfig = support.require_tool("grub-mkconfig", package="grub-common")
    unshare = support.require_tool("unshare", package="util-linux")
    if os.geteuid() != 0:
        pytest.skip("grub-mkconfig in a private mount namespace needs root")
    root = tmp_path / "root"
    (root / "boot/grub").mkdir(parents=True)
    (root / "etc/default").mkdir(parents=True)
    for version in kernels:
        (root / f"boot/vmlinuz-{version}").write_bytes(b"kernel")
        (root / f"boot/initrd.img-{version}").write_bytes(b"initrd")
    (root / "etc/default/grub").write_text(default_grub)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "grub-probe").write_text(_PROBE)
    (tools / "grub-mkrelpath").write_text(_RELPATH)
    for tool in tools.iterdir():
        tool.chmod(0o755)
    probe = shutil.which("grub-probe") or "/usr/sbin/grub-probe"
    relpath = shutil.which("grub-mkrelpath") or "/usr/bin/grub-mkrelpath"
    script = (
        f"set -e; mount --bind {tools}/grub-probe {probe}; "
        f"mount --bind {tools}/grub-mkrelpath {relpath}; "
        f"mount --bind {root}/boot /boot; mount --bind {root}/etc/default /etc/default; "
        f"{mkconfig} -o /boot/grub/grub.cfg"
    )
    result = subprocess.run(
        [unshare, "-m", "sh", "-c", script], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot run grub-mkconfig in a mount namespace: {result.stderr.strip()}")
    return root


def _load(root: Path, env: dict[str, str] | None = None) -> grubcfg.GrubConfig:
    text = (root / "boot/grub/grub.cfg").read_text()

    def probe(op: str, path: str) -> bool | None:
        return (root / path.lstrip("/")).exists()

    return grubcfg.load_config(
        text,
        "/boot/grub/grub.cfg",
        grubenv=env,
        variables={"prefix": "/boot/grub", "config_directory": "/boot/grub"},
        probe=probe,
    )


# Lexing and parsing ----------------------------------------------------------------------


def test_quoting_follows_grub_script() -> None:
    config = grubcfg.load_config(
        "set a='single $x \\n'\n"
        'set b="dq \\$x \\" \\\\ \\n $a"\n'
        "set c=un\\ quoted\\$x # comment\n"
        "set d=con\\\ntinued\n"
        "x=value\n"
        'set e="${x}-$x"\n'
    )
    assert config.variables["a"] == "single $x \\n"
    assert config.variables["b"] == 'dq $x " \\ \\n single $x \\n'
    assert config.variables["c"] == "un quoted$x"
    assert config.variables["d"] == "continued"
    assert config.variables["e"] == "value-value"


def test_unquoted_empty_variable_vanishes_and_quoted_one_stays() -> None:
    config = grubcfg.load_config(
        "menuentry 'A' $empty 'id-a' { true }\nmenuentry 'B' \"$empty\" { true }\n"
    )
    first, second = config.entries
    assert first.id == "A"
    assert first.args == ("id-a",)
    assert second.args == ("",)


def test_menu_options_ids_classes_and_extra_arguments() -> None:
    config = grubcfg.load_config(
        "menuentry 'Debian GNU/Linux' --class debian --class os --id=deb "
        "--hotkey=d --users alice --unrestricted extra {\n  linux /vmlinuz root=/dev/sda1 ro\n"
        "  initrd /initrd.img /ucode.img\n}\n"
        "menuentry --badopt 'Broken' { true }\n"
    )
    (entry,) = config.entries
    assert (entry.title, entry.id, entry.id_given) == ("Debian GNU/Linux", "deb", True)
    assert entry.classes == ("debian", "os")
    assert (entry.hotkey, entry.users, entry.unrestricted) == ("d", "alice", True)
    assert entry.args == ("extra",)
    assert entry.linux == "/vmlinuz"
    assert entry.linux_args == ("root=/dev/sda1", "ro")
    assert entry.initrd == ("/initrd.img", "/ucode.img")
    assert any("unknown option '--badopt'" in n.message for n in config.notes)


def test_if_elif_else_and_functions_run_statically() -> None:
    script = """
load_env
function pick {
  set default="$1"
}
if [ "${next_entry}" ] ; then pick next
elif [ -n "$saved_entry" ]; then pick saved
else pick zero; fi
if [ x"${feature_menuentry_id}" = xy ]; then id=yes; else id=no; fi
if ! [ -z "$saved_entry" -o -n "" ]; then both=yes; fi
"""
    assert grubcfg.load_config(script, grubenv={"next_entry": "n"}).variables["default"] == "next"
    saved = grubcfg.load_config(script, grubenv={"saved_entry": "s"})
    assert saved.variables["default"] == "saved"
    assert saved.variables["id"] == "yes"
    assert saved.variables["both"] == "yes"
    assert grubcfg.load_config(script, grubenv={}).variables["default"] == "zero"


def test_submenu_sees_only_exported_variables() -> None:
    body = (
        'menuentry_id_option="--id"\nEXPORT'
        "submenu 'Adv' $menuentry_id_option 'adv' {\n"
        "  menuentry 'B' $menuentry_id_option 'lin-b' { linux /b }\n"
        "  submenu 'Deeper' $menuentry_id_option 'deep' {\n"
        "    menuentry 'C' $menuentry_id_option 'lin-c' { linux /c }\n"
        "  }\n}\n"
    )
    exported = grubcfg.load_config(body.replace("EXPORT", "export menuentry_id_option\n"))
    adv = exported.entries[0]
    assert [c.id for c in adv.children] == ["lin-b", "deep"]
    assert adv.children[1].children[0].id == "lin-c"
    lost = grubcfg.load_config(body.replace("EXPORT", ""))
    adv = lost.entries[0]
    assert adv.id == "adv"  # the top level sees the unexported variable
    assert [c.id for c in adv.children] == ["B", "Deeper"]
    assert adv.children[0].args == ("lin-b",)


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("menuentry 'x' {\n  linux /k\n", 3, "'}'"),
        ("if true; then\n  echo\n", 3, "'fi'"),
        ("set a='open\n", 1, "a closing single quote"),
        ('echo "open\n', 1, "a closing double quote"),
        ("echo ok\necho a > b\n", 2, "a word"),
        ("echo ${bad-name}\n", 1, "a variable name in ${...}"),
        ("}\n", 1, "a command"),
    ],
)
def test_syntax_errors_name_line_and_expectation(text: str, line: int, expected: str) -> None:
    with pytest.raises(grubcfg.GrubCfgError) as info:
        grubcfg.parse_script(text, "t.cfg")
    assert info.value.line == line
    assert info.value.expected == expected
    assert str(info.value).startswith(f"t.cfg:{line}: syntax error")


_SNIPPETS = [
    "menuentry 'a' { linux /k }\n",
    "submenu 'a' { menuentry 'b' { true } }\n",
    "if [ x = y ]; then true; elif true; then false; else true; fi\n",
    'function f { echo $1 ${2} "$@"; }\nf a b\n',
    "set a=b\\ c 'd e' \"f$g\"\n",
    "menuentry 'x' {\n",
    "if true; then\n",
    "echo a | b\n",
    "echo ${}\n",
    "fi\n",
    "echo 'unterminated\n",
]


@pytest.mark.conformance
@pytest.mark.parametrize("snippet", _SNIPPETS)
def test_accepts_what_grub_script_check_accepts(snippet: str, tmp_path: Path) -> None:
    check = support.require_tool("grub-script-check", package="grub-common")
    path = tmp_path / "s.cfg"
    path.write_text(snippet)
    grub_ok = subprocess.run([check, str(path)], capture_output=True, check=False).returncode == 0
    try:
        grubcfg.parse_script(snippet)
        ours = True
    except grubcfg.GrubCfgError:
        ours = False
    assert ours == grub_ok


# Real Debian output -----------------------------------------------------------------------


DEFAULT_GRUB = (
    "GRUB_DEFAULT={default}\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null "
    '|| echo Debian`\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'
)


@pytest.mark.conformance
@pytest.mark.slow
def test_debian_generated_menu_tree_ids_and_kernels(tmp_path: Path) -> None:
    root = generate_root(tmp_path, DEFAULT_GRUB.format(default="saved"))
    config = _load(root)
    simple, advanced = config.entries
    assert simple.title == "Debian GNU/Linux"
    assert simple.id == f"gnulinux-simple-{UUID}"
    assert simple.classes == ("debian", "gnu-linux", "gnu", "os")
    assert simple.linux == "/boot/vmlinuz-6.1.0-56-amd64"
    assert simple.linux_args == ("root=/dev/sda1", "ro", "quiet")
    assert simple.initrd == ("/boot/initrd.img-6.1.0-56-amd64",)
    assert advanced.is_submenu
    assert advanced.id == f"gnulinux-advanced-{UUID}"
    assert [c.id for c in advanced.children] == [
        f"gnulinux-6.1.0-56-amd64-advanced-{UUID}",
        f"gnulinux-6.1.0-56-amd64-recovery-{UUID}",
        f"gnulinux-6.1.0-25-amd64-advanced-{UUID}",
        f"gnulinux-6.1.0-25-amd64-recovery-{UUID}",
    ]
    assert advanced.children[1].linux_args[-1] == "single"
    assert config.variables["timeout"] == "5"
    assert "menuentry_id_option" in config.exported
    # The id path of an advanced entry resolves through the submenu.
    path = f"gnulinux-advanced-{UUID}>gnulinux-6.1.0-25-amd64-advanced-{UUID}"
    resolution = resolve_config(_load(root, {"saved_entry": path}))
    assert resolution.exact
    assert resolution.index_path == "1>2"
    assert resolution.entry is not None
    assert resolution.entry.linux == "/boot/vmlinuz-6.1.0-25-amd64"


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.parametrize(
    "setting",
    [
        "",
        "saved",
        "2",
        '"1>2"',
        f'"gnulinux-advanced-{UUID}>gnulinux-6.1.0-25-amd64-advanced-{UUID}"',
        '"Debian GNU/Linux"',
    ],
)
def test_predicted_default_matches_what_00_header_bakes(setting: str, tmp_path: Path) -> None:
    text = DEFAULT_GRUB.format(default=setting)
    root = generate_root(tmp_path, text)
    config = _load(root, {"saved_entry": "1>1"})
    baked = [a for a in config.assignments if a.name == "default"][-1]
    predicted = defaultgrub.predicted_default(defaultgrub.parse(text))
    assert baked.source == f'set default="{predicted}"'
    expected_value = "1>1" if predicted == "${saved_entry}" else predicted
    assert config.variables["default"] == expected_value


@pytest.mark.conformance
@pytest.mark.slow
def test_next_entry_block_of_debian_header_is_one_shot(tmp_path: Path) -> None:
    root = generate_root(tmp_path, DEFAULT_GRUB.format(default="saved"))
    config = _load(root, {"saved_entry": "0", "next_entry": "1>0"})
    assert config.variables["default"] == "1>0"
    assert config.variables["next_entry"] == ""
    assert config.variables["boot_once"] == "true"
    assert [s.names for s in config.save_env] == [("next_entry",)]
    resolution = resolve_config(config)
    assert resolution.index_path == "1>0"
    # savedefault's body is not run at menu-build time; its save_env is not counted.
    assert resolve_value(config.entries, "0").index_path == "0"


# Fuzzing ----------------------------------------------------------------------------------

_SAMPLE = """\
set default="${saved_entry}"
menuentry_id_option="--id"
export menuentry_id_option
menuentry 'A' --class os $menuentry_id_option 'a' {
\tlinux /vmlinuz root=UUID=x ro quiet
}
submenu 'Adv' $menuentry_id_option 'adv' {
\tmenuentry 'B' $menuentry_id_option 'b' { linux /b }
}
if [ -f ${config_directory}/custom.cfg ]; then source ${config_directory}/custom.cfg; fi
"""


# The head of a grub.cfg written by Debian 12's grub-mkconfig (00_header, 05_debian_theme and
# the start of 10_linux), as generate_root() above produces it.
_DEBIAN = """### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="${saved_entry}"
fi

if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

if [ "${prev_saved_entry}" ]; then
  set saved_entry="${prev_saved_entry}"
  save_env saved_entry
  set prev_saved_entry=
  save_env prev_saved_entry
  set boot_once=true
fi

function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
function load_video {
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}

if loadfont unicode ; then
  set gfxmode=auto
  load_video
  insmod gfxterm
  set locale_dir=$prefix/locale
  set lang=C
  insmod gettext
fi
terminal_output gfxterm
if [ "${recordfail}" = 1 ] ; then
  set timeout=30
else
  if [ x$feature_timeout_style = xy ] ; then
    set timeout_style=menu
    set timeout=5
  # Fallback normal timeout code in case the timeout_style feature is
  # unavailable.
  else
    set timeout=5
  fi
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/05_debian_theme ###
set menu_color_normal=cyan/blue
set menu_color_highlight=white/blue
### END /etc/grub.d/05_debian_theme ###

### BEGIN /etc/grub.d/10_linux ###
function gfxmode {
\tset gfxpayload="${1}"
}
set linux_gfx_mode=
export linux_gfx_mode
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os\
 $menuentry_id_option 'gnulinux-simple-0f2b6a5e-1c3d-4e5f-8a9b-0c1d2e3f4a5b' {
\tload_video
\tinsmod gzio
\tif [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
\tinsmod part_msdos
\tinsmod ext2
\tset root='hd0,msdos1'
\tif [ x$feature_platform_search_hint = xy ]; then
\t  search --no-floppy --fs-uuid --set=root --hint-bios=hd0,msdos1\
 --hint-efi=hd0,msdos1 --hint-baremetal=ahci0,msdos1 0f2b6a5e-1c3d-4e5f-8a9b-0c1d2e3f4a5b
\telse
\t  search --no-floppy --fs-uuid --set=root 0f2b6a5e-1c3d-4e5f-8a9b-0c1d2e3f4a5b
\tfi
\techo\t'Loading Linux 6.1.0-56-amd64 ...'
\tlinux\t/boot/vmlinuz-6.1.0-56-amd64 root=/dev/sda1 ro  quiet
\techo\t'Loading initial ramdisk ...'
\tinitrd\t/boot/initrd.img-6.1.0-56-amd64
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option\
 'gnulinux-advanced-0f2b6a5e-1c3d-4e5f-8a9b-0c1d2e3f4a5b' {
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-56-amd64' --class debian --class\
 gnu-linux --class gnu --class os $menuentry_id_option\
 'gnulinux-6.1.0-56-amd64-advanced-0f2b6a5e-1c3d-4e5f-8a9b-0c1d2e3f4a5b' {
\t\tload_video
\t\tinsmod gzio
\t\tif [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
\t\tinsmod part_msdos
\t\tinsmod ext2
\t\tset root='hd0,msdos1'
\t\tif [ x$feature_platform_search_hint = xy ]; then
\t\t  search --no-floppy --fs-uuid --set=root --hint-bios=hd0,msdos1\
 --hint-efi=hd0,msdos1 --hint-baremetal=ahci0,msdos1 0f2b6a5e-1c3d-4e5f-8a9b-0c1d2e3f4a5b
\t\telse
\t\t  search --no-floppy --fs-uuid --set=root 0f2b6a5e-1c3d-4e5f-8a9b-0c1d2e3f4a5b
\t\tfi
\t\techo\t'Loading Linux 6.1.0-56-amd64 ...'
\t\tlinux\t/boot/vmlinuz-6.1.0-56-amd64 root=/dev/sda1 ro  quiet
\t\techo\t'Loading initial ramdisk ...'
\t\tinitrd\t/boot/initrd.img-6.1.0-56-amd64
\t}
}
"""


def _parse_or_clear_error(text: str) -> None:
    error: grubcfg.GrubCfgError | None = None
    try:
        config = grubcfg.load_config(text)
    except grubcfg.GrubCfgError as exc:
        error = exc
    if error is not None:
        assert error.line >= 1
        return
    resolve_config(config)


@given(st.text(alphabet=st.sampled_from(list("ab '\"\\$#{};\n\t>menutryif=-")), max_size=200))
def test_fuzz_random_scripts_only_raise_grubcfg_errors(text: str) -> None:
    _parse_or_clear_error(text)


@given(st.integers(min_value=0, max_value=len(_SAMPLE)))
def test_fuzz_truncated_config_only_raises_grubcfg_errors(cut: int) -> None:
    _parse_or_clear_error(_SAMPLE[:cut])


@given(st.integers(min_value=0, max_value=len(_DEBIAN)))
def test_fuzz_truncated_debian_config_only_raises_grubcfg_errors(cut: int) -> None:
    _parse_or_clear_error(_DEBIAN[:cut])


def test_debian_sample_is_complete() -> None:
    config = grubcfg.load_config(_DEBIAN, grubenv={})
    assert [e.id for e in config.entries] == [
        f"gnulinux-simple-{UUID}",
        f"gnulinux-advanced-{UUID}",
    ]


@given(st.text(max_size=300))
def test_fuzz_any_text_only_raises_grubcfg_errors(text: str) -> None:
    _parse_or_clear_error(text)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    text = "if true; then\n" * 200 + "fi\n" * 200
    with pytest.raises(grubcfg.GrubCfgError, match="nested"):
        grubcfg.parse_script(text)


def test_recursion_bombs_stop_with_a_note() -> None:
    config = grubcfg.load_config("function f { f; f }\nf\nsource $prefix/x\n")
    assert any("stopped after" in note.message for note in config.notes)
    looped = grubcfg.load_config(
        "menuentry 'a' { linux /a }\nfunction g { g; g }\nmenuentry 'b' { g }\n"
    )
    assert [e.title for e in looped.entries] == ["a", "b"]


def test_savedefault_records_the_chosen_id_path_unless_boot_once() -> None:
    script = """
load_env
if [ "${next_entry}" ] ; then set default="${next_entry}"; set next_entry=; set boot_once=true
else set default="${saved_entry}"; fi
function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
menuentry_id_option="--id"
export menuentry_id_option
menuentry 'A' $menuentry_id_option 'lin-a' { savedefault; linux /a }
submenu 'Adv' $menuentry_id_option 'a>dv' {
  menuentry 'B' $menuentry_id_option 'lin-b' { savedefault; linux /b }
}
"""
    config = grubcfg.load_config(script, grubenv={"saved_entry": "0"})
    top, adv = config.entries
    assert [save.values for save in top.saves] == [(("saved_entry", "lin-a"),)]
    assert [save.values for save in adv.children[0].saves] == [(("saved_entry", "a>>dv>lin-b"),)]
    assert config.save_env == []
    # A one-shot boot sets boot_once, which suppresses savedefault at the top level; the
    # submenu's context only has exported variables, and boot_once is not exported.
    once = grubcfg.load_config(script, grubenv={"next_entry": "0"})
    assert once.entries[0].saves == ()
    assert len(once.entries[1].children[0].saves) == 1


def test_hardware_conditions_are_assumed_false_and_noted() -> None:
    config = grubcfg.load_config(
        "if cmostest 0x20 ; then set default=button; else set default=normal; fi\n"
        "if keystatus --shift; then set timeout=-1; fi\n"
        "menuentry 'x' --source 'linux /k'\n"
    )
    assert config.variables["default"] == "normal"
    assert "timeout" not in config.variables
    messages = " ".join(note.message for note in config.notes)
    assert "'cmostest' depends on the machine" in messages
    assert "without a '{' body" in messages


@pytest.mark.conformance
@pytest.mark.slow
def test_debian_flat_menu_with_submenu_disabled(tmp_path: Path) -> None:
    text = DEFAULT_GRUB.format(default="saved") + "GRUB_DISABLE_SUBMENU=y\n"
    root = generate_root(tmp_path, text)
    config = _load(root, {"saved_entry": f"gnulinux-6.1.0-25-amd64-advanced-{UUID}"})
    assert not any(entry.is_submenu for entry in config.entries)
    # 10_linux writes no "simple" entry then: every kernel and its recovery entry, flat.
    assert [e.id for e in config.entries] == [
        f"gnulinux-6.1.0-56-amd64-advanced-{UUID}",
        f"gnulinux-6.1.0-56-amd64-recovery-{UUID}",
        f"gnulinux-6.1.0-25-amd64-advanced-{UUID}",
        f"gnulinux-6.1.0-25-amd64-recovery-{UUID}",
    ]
    resolution = resolve_config(config)
    assert resolution.exact
    assert resolution.entry is not None
    assert resolution.entry.linux == "/boot/vmlinuz-6.1.0-25-amd64"
    # The same saved_entry with a submenu-style path would not resolve in a flat menu.
    nested = _load(root, {"saved_entry": f"gnulinux-advanced-{UUID}>x"})
    assert not resolve_config(nested).exact
