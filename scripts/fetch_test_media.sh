#!/usr/bin/env bash
# Fetches the real video files that svilm's video tests and benchmark use, from Debian's
# opencv-doc package, into a cache folder (idempotent: files already there with the right
# checksum are kept). Only the four files are kept, not the whole package.
#
#   bash scripts/fetch_test_media.sh            # into $SVILM_MEDIA_DIR, or ~/.cache/svilm/media
#
# vtest.avi          768x576, 795 frames, only 4 keyframes (msmpeg4v3)
# Megamind.avi       720x528, 270 frames, real shot cuts (MPEG-4 part 2 with B-frames)
# Megamind_bugy.avi  the same clip with packets without timestamps
# tree.avi           320x240 cinepak whose header claims 444 frames; it has 68
set -euo pipefail

dir="${SVILM_MEDIA_DIR:-${HOME:-/root}/.cache/svilm/media}"
files=(
    "vtest.avi 45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
    "Megamind.avi 0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5"
    "Megamind_bugy.avi b82dd32d5444031d1a46a133e7554be7b80c54d12e3503a1b1332a540218e22c"
    "tree.avi 4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc"
)

all_present() {
    for entry in "${files[@]}"; do
        read -r name sum <<<"$entry"
        [[ -f "$dir/$name" ]] && echo "$sum  $dir/$name" | sha256sum --check --status || return 1
    done
}

if all_present; then
    echo "svilm media: present in $dir"
    exit 0
fi

mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download drops privileges to _apt, which must be able to write the folder.
chmod 777 "$work"
download() { (cd "$work" && apt-get download -qq opencv-doc >/dev/null 2>"$work/apt.log"); }
# A fresh machine may have no package lists yet: refresh them once (as root).
download || { [[ $(id -u) -eq 0 ]] && apt-get update -qq && download; } || {
    cat "$work/apt.log" >&2
    echo "svilm media: cannot download opencv-doc; the tests that need these files will be skipped" >&2
    exit 1
}
dpkg -x "$work"/opencv-doc_*.deb "$work/root"
for entry in "${files[@]}"; do
    read -r name sum <<<"$entry"
    src="$work/root/usr/share/doc/opencv-doc/examples/data/$name"
    echo "$sum  $src" | sha256sum --check --status || {
        echo "svilm media: $name in this opencv-doc differs from the one the tests expect" >&2
        exit 1
    }
    cp "$src" "$dir/$name"
done
echo "svilm media: fetched ${#files[@]} files into $dir"
