#!/usr/bin/env bash
# The ffmpeg command doing svilm_bench_video's work on the same files: decode, keep the same 8
# frames (uniform segment midpoints, floor((2k + 1) n / 16)), scale the shorter side to 224,
# center crop 224 x 224, write RGB to /dev/null. Prints the median time of `runs` runs, clips/s
# and the command's peak RSS. Needs Debian's ffmpeg package (not used by CI).
#
#   ./build/ci/benchmarks/svilm_bench_video      # writes the H.264 clips to $SVILM_BENCH_DIR
#   bash benchmarks/compare_ffmpeg.sh [runs]
set -euo pipefail
runs=${1:-5}
dir=${SVILM_BENCH_DIR:-/tmp/svilm-bench}
media=${SVILM_MEDIA_DIR:-${HOME:-/root}/.cache/svilm/media}

printf '%-32s %7s %10s %8s %8s\n' file frames "ms/clip" clips/s "RSS MB"
for f in "$dir/h264_640x360_10s_gop250.mp4" "$dir/h264_640x360_10s_gop30.mp4" "$media/vtest.avi"; do
    if [[ ! -f $f ]]; then
        echo "missing $f" >&2
        continue
    fi
    n=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$f")
    select=""
    for k in 0 1 2 3 4 5 6 7; do select+="eq(n\\,$(((2 * k + 1) * n / 16)))+"; done
    filter="select='${select%+}',scale=224:224:force_original_aspect_ratio=increase,crop=224:224"
    times=()
    rss=0
    for ((r = 0; r < runs; ++r)); do
        start=$(date +%s%N)
        /usr/bin/time -f %M -o /tmp/compare_ffmpeg_rss \
            ffmpeg -v error -nostdin -i "$f" -vf "$filter" -fps_mode passthrough -f rawvideo -pix_fmt rgb24 - >/dev/null
        times+=($((($(date +%s%N) - start) / 1000)))
        rss=$(cat /tmp/compare_ffmpeg_rss)
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    awk -v f="$(basename "$f")" -v n="$n" -v us="$median" -v rss="$rss" \
        'BEGIN {printf "%-32s %7d %10.1f %8.2f %8.1f\n", f, n, us / 1000, 1e6 / us, rss / 1024}'
done
