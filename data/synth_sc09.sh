#!/bin/sh
# synth_sc09.sh — an SC09-like spoken-digit set (the words zero..nine, 1 s clips at 16 kHz
# mono, exactly 16000 samples each) synthesised with espeak-ng (7 accents x 101 voice
# variants), flite (4 voices) and festival (3 voices) through sox. Installs nothing.
#
#   data/synth_sc09.sh [--dest DIR] [--count N] [--seed S] [--jobs J] [--format wav|ulaw]
#                      [--archive FILE.tar.xz]
#
#   --dest DIR      output root [datasets/sc09]; clips go to DIR/{train,val,test}/D/WORD_ID.wav
#                   with D the digit 0..9, as data/fetch_debian.sh's real digits/D/
#                   (plugin: audio, labels: dir)
#   --count N       clips [5000]; digit = id mod 10, split = (id div 10) mod 10:
#                   0 -> test, 1 -> val, else train (80/10/10, every digit balanced)
#   --seed S        seed of the manifest (voice, pitch, speed, gain of each clip) [1]
#   --jobs J        parallel synthesisers (xargs -P) [2]
#   --format F      wav: 16-bit PCM WAV (32 KB a clip); ulaw: 8-bit mu-law WAV (16 KB a
#                   clip, read by the audio plugin as is)
#   --archive F     also pack DIR into F with tar + xz (mu-law: about 5-7 MB per 1000 clips)
#
# Every engine's output is trimmed of silence, sped up (sox tempo) when longer than 0.95 s,
# faded, and padded to exactly 16000 samples with a random lead-in; `sox -R` keeps the bytes
# reproducible for a given seed. The manifest is written to DIR/manifest.txt (id digit engine
# voice pitch speed gain). 1000 clips take about 80 s on 2 cores.
# Needs: apt-get install --no-install-recommends espeak-ng festival festvox-kallpc16k \
#          festvox-kdlpc16k festvox-us-slt-hts flite sox
set -eu

# --one DIR FORMAT id digit engine voice pitch speed gain: one clip (run by xargs below).
if [ "${1:-}" = --one ]; then
    out=$2; format=$3; id=$4; w=$5; eng=$6; v=$7; p=$8; s=$9; shift 9; g=$1
    # a clip already there is kept (an interrupted run resumes; clips are written whole)
    [ -s "$out/${w}_${id}.wav" ] && exit 0
    tmp=$(mktemp /tmp/sc09.XXXXXX)
    trap 'rm -f "$tmp" "$tmp.raw.wav" "$tmp.t.wav" "$tmp.u.wav"' EXIT
    case $eng in
    espeak)   espeak-ng -z -v "$v" -p "$p" -s "$s" -w "$tmp.raw.wav" "$w" ;;
    flite)    flite -voice "$v" --setf duration_stretch="$s" --setf int_f0_target_mean="$p" \
                    -t "$w" -o "$tmp.raw.wav" ;;
    festival) case $v in kal) fv=voice_kal_diphone ;; ked) fv=voice_ked_diphone ;;
              slt) fv=voice_cmu_us_slt_arctic_hts ;; esac
              # festival has no pitch setting here: p is unused
              echo "$w" | text2wave -eval "($fv)" -eval "(Parameter.set 'Duration_Stretch $s)" \
                    -o "$tmp.raw.wav" ;;
    esac
    sox -R -V1 -q "$tmp.raw.wav" -r 16000 -c 1 -b 16 "$tmp.t.wav" \
        silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse gain "$g"
    len=$(soxi -s "$tmp.t.wav")
    if [ "$len" -gt 15200 ]; then
        f=$(awk -v l="$len" 'BEGIN{printf "%.4f", l/15200}')
        sox -R -V1 -q "$tmp.t.wav" "$tmp.u.wav" tempo -s "$f"
        mv "$tmp.u.wav" "$tmp.t.wav"
        len=$(soxi -s "$tmp.t.wav")
    fi
    # lead-in of silence: 30-70% of the spare samples, seeded by the clip id
    pre=$(awk -v l="$len" -v id="$id" 'BEGIN{srand(id+0); m=16000-l; if(m<0)m=0;
                                             printf "%d", m*(0.3+0.4*rand())}')
    case $format in wav) enc="-b 16 -e signed-integer" ;; ulaw) enc="-b 8 -e u-law" ;; esac
    # shellcheck disable=SC2086
    part="$out/.${w}_${id}.part.wav" # renamed when whole: a clip is there entirely or not at all
    sox -R -V1 -q "$tmp.t.wav" $enc "$part" \
        fade q 0.005 -0 0.01 pad "${pre}s" 16000s trim 0 16000s
    mv "$part" "$out/${w}_${id}.wav"
    exit 0
fi

dest=datasets/sc09 count=5000 seed=1 jobs=2 format=wav archive=
while [ $# -gt 0 ]; do
    case $1 in
    --dest) dest=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --format) format=$2; shift 2 ;;
    --archive) archive=$2; shift 2 ;;
    -h|--help) sed -n '2,25s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "synth_sc09.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case $format in wav|ulaw) ;; *) echo "synth_sc09.sh: --format is wav or ulaw, not '$format'" >&2; exit 2 ;; esac
case $count in ''|*[!0-9]*) echo "synth_sc09.sh: --count needs a number, not '$count'" >&2; exit 2 ;; esac

missing=
for tool in espeak-ng:espeak-ng flite:flite text2wave:festival sox:sox soxi:sox; do
    command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
for voice in festvox-kallpc16k:kal_diphone festvox-kdlpc16k:ked_diphone \
             festvox-us-slt-hts:cmu_us_slt_arctic_hts; do
    ls -d /usr/share/festival/voices/*/"${voice#*:}" >/dev/null 2>&1 || missing="$missing ${voice%%:*}"
done
if [ -n "$missing" ]; then
    echo "synth_sc09.sh: missing Debian packages:$missing" >&2
    echo "  apt-get install --no-install-recommends$missing" >&2
    exit 1
fi

# The manifest: clip id, digit word, engine, voice, pitch, speed, gain (dB), from the seed.
# espeak 80% (accent + one of its 100 variant files or none), flite 15%, festival 5%.
accents="en-us en en-gb-scotland en-gb-x-gbclan en-gb-x-rp en-gb-x-gbcwmd en-029"
vdir=$(espeak-ng --version | sed -n 's/.*Data at: //p')/voices/!v
variants=$(ls "$vdir" | grep -v ' ' | tr '\n' ' ')
mkdir -p "$dest"
awk -v n="$count" -v seed="$seed" -v acc="$accents" -v var="$variants" 'BEGIN{
    srand(seed); na = split(acc, A, " "); nv = split(var, V, " ");
    split("zero one two three four five six seven eight nine", D, " ");
    split("kal16 awb rms slt", F, " "); split("kal ked slt", T, " ");
    for (i = 0; i < n; i++) {
        r = rand();
        if (r < 0.80) { eng = "espeak"; v = A[int(rand() * na) + 1] "+" V[int(rand() * (nv + 1))];
                        sub(/\+$/, "", v); p = int(20 + rand() * 60); s = int(120 + rand() * 140) }
        else if (r < 0.95) { eng = "flite"; v = F[int(rand() * 4) + 1]; p = int(70 + rand() * 120);
                             s = sprintf("%.2f", 0.7 + rand() * 0.6) }
        else { eng = "festival"; v = T[int(rand() * 3) + 1]; p = int(80 + rand() * 80);
               s = sprintf("%.2f", 0.7 + rand() * 0.6) }
        printf "%05d %s %s %s %s %s %.1f\n", i, D[i % 10 + 1], eng, v, p, s, -(rand() * 12) }}' \
    > "$dest/manifest.txt"

# id -> split directory; one xargs line per clip: --one OUTDIR FORMAT fields...
awk -v dest="$dest" -v fmt="$format" '{
    b = int($1 / 10) % 10; split_ = b == 0 ? "test" : b == 1 ? "val" : "train";
    dir = dest "/" split_ "/" ($1 % 10); if (!(dir in made)) { made[dir] = 1; system("mkdir -p \"" dir "\"") }
    print dir, fmt, $0 }' "$dest/manifest.txt" |
    xargs -P "$jobs" -L 1 "$0" --one
echo "synth_sc09.sh: $count clips in $dest ($(du -sh "$dest" | cut -f1))"
if [ -n "$archive" ]; then
    tar -C "$(dirname "$dest")" -cJf "$archive" "$(basename "$dest")"
    echo "synth_sc09.sh: packed into $archive ($(du -h "$archive" | cut -f1))"
fi
