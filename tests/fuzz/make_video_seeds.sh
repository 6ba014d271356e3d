#!/usr/bin/env bash
# Seeds for svilm_fuzz_video: tiny clips (32x24, 8 frames) in several codecs and containers,
# made with the ffmpeg command (Debian package ffmpeg). Usage: make_video_seeds.sh OUTPUT_DIR
set -euo pipefail
out=${1:?usage: make_video_seeds.sh OUTPUT_DIR}
mkdir -p "$out"
src=(-hide_banner -loglevel error -y -f lavfi -i testsrc=size=32x24:rate=8 -frames:v 8)
ffmpeg "${src[@]}" -c:v libx264 -bf 2 -g 4 "$out/h264.mp4"
ffmpeg "${src[@]}" -c:v libx264 -bf 2 -g 4 "$out/h264.mkv"
ffmpeg "${src[@]}" -c:v mpeg4 -bf 2 -g 4 "$out/mpeg4_b.avi"
ffmpeg "${src[@]}" -c:v mjpeg "$out/mjpeg.avi"
ffmpeg "${src[@]}" -c:v ffv1 "$out/ffv1.mkv"
ffmpeg "${src[@]}" -c:v mpeg2video -bf 2 "$out/mpeg2.ts"
ffmpeg "${src[@]}" -c:v libvpx-vp9 "$out/vp9.webm"
ffmpeg "${src[@]}" -c:v rawvideo -pix_fmt yuyv422 "$out/raw.nut"
ffmpeg "${src[@]}" -c:v libx264 -f h264 "$out/raw.h264"
ffmpeg "${src[@]}" -c:v gif "$out/anim.gif"
ls -la "$out"
