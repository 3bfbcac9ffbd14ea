#!/bin/sh
# tests/cli/run.sh: snnctl end to end, on small inputs: the tiny model
# (tests/data/tiny, 1x8x8, 3 classes) with PNGs and folder datasets made
# in a temporary directory by tools/mkpng_fixtures.c, models/fashion-mnist
# on 20..200 images of the Debian Fashion-MNIST, CIFAR-10 from
# ../shared/datasets/cifar10 when present (else SKIP), and two ONNX backend
# test folders. Prints "PASS name", "FAIL name: why" or "SKIP name: why"
# per case and closes with "N passed, N failed, N skipped"; exits 1 when a
# case failed. POSIX sh (dash).
#
#   BUILD=build-san tests/cli/run.sh     (SNNCTL=path overrides the binary;
#                                         an argument runs the cases whose name contains it)
#
# Every command's exit status, stdout and stderr are checked: a signal or a
# sanitizer report fails a case, and so does a refusal that prints on
# stdout or whose message does not start with "snnctl: ".
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
SNNCTL=${SNNCTL:-$ROOT/$BUILD/snnctl}
ONLY=${1:-}
TINY=$ROOT/tests/data/tiny
FMSHIP=$ROOT/models/fashion-mnist
FMDIR=/usr/share/datasets/fashion-mnist
FMD=fashion-mnist:$FMDIR
if [ -n "${SNN_SHARED:-}" ]; then CIFAR=$SNN_SHARED/datasets/cifar10
else CIFAR=$ROOT/../shared/datasets/cifar10
fi
ONNXDATA=${ONNX_TESTDATA:-/usr/share/libonnx-testdata/data}/node
passed=0 failed=0 skipped=0

if [ ! -x "$SNNCTL" ]; then
    echo "cli/run.sh: $SNNCTL not built (make)" >&2
    exit 2
fi
for tool in jq od gzip awk; do
    command -v "$tool" >/dev/null || { echo "cli/run.sh: $tool missing" >&2; exit 2; }
done
T=$(mktemp -d) || exit 2
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# The cases run the Fashion-MNIST model under the nengo reference
# conversion (30 steps, spiking-relu, synapse 0.005, scale 20), whatever
# conversion models/fashion-mnist ships calibrated (its own case checks that).
FM=$T/fm-ref
if [ -f "$FMSHIP/model.onnx" ]; then
    mkdir -p "$FM" && ln -s "$FMSHIP/model.onnx" "$FM/model.onnx" &&
        jq '.steps = 30 | .conversion = {"neuron": "spiking-relu", "synapse": 0.005, "scale_firing_rates": 20,
            "v0": "uniform:0", "dt": 0.001} | del(.bias_correction, .calibration, .early_exit)' \
            "$FMSHIP/config.json" >"$FM/config.json" || exit 2
fi
MKPNG=$T/mkpng_fixtures
if ! ${CC:-cc} -O2 -o "$MKPNG" tools/mkpng_fixtures.c -lz 2>"$T/cc.err"; then
    cat "$T/cc.err" >&2
    echo "cli/run.sh: cannot build tools/mkpng_fixtures.c" >&2
    exit 2
fi

# ---- harness ------------------------------------------------------------

# case_ NAME FUNCTION: run FUNCTION (unless NAME does not contain the
# argument), which returns 0, or sets $why and returns 1, or calls
# skip_because and returns 0.
case_() {
    name=$1
    case "$name" in *"$ONLY"*) ;; *) return 0 ;; esac
    why="" skipwhy=""
    if "$2"; then
        if [ -n "$skipwhy" ]; then
            echo "SKIP $name: $skipwhy"
            skipped=$((skipped + 1))
        else
            echo "PASS $name"
            passed=$((passed + 1))
        fi
    else
        echo "FAIL $name: ${why:-(no reason given)}"
        failed=$((failed + 1))
    fi
}

skip_because() { skipwhy=$1; return 0; }

# The first line of a file, shortened, for messages.
first() { head -n 1 "$1" | cut -c 1-200; }

# snn ARGS...: run snnctl; stdout in $T/out, stderr in $T/err, status in $rc.
# Fails (returns 1, $why set) on a signal or a sanitizer report.
snn() {
    "$SNNCTL" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ge 128 ]; then
        why="snnctl $1 died with signal $((rc - 128)): $(first "$T/err")"
        return 1
    fi
    if grep -qE 'Sanitizer|runtime error:' "$T/err"; then
        why="snnctl $1: sanitizer report: $(grep -m 1 -E 'Sanitizer|runtime error:' "$T/err")"
        return 1
    fi
    return 0
}

# ok ARGS...: snnctl must succeed.
ok() {
    snn "$@" || return 1
    [ "$rc" = 0 ] || { why="snnctl $1 exited $rc: $(first "$T/err")"; return 1; }
}

# refused STATUS PATTERN ARGS...: snnctl must exit with STATUS (1 or 2),
# print nothing on stdout and a message matching PATTERN (grep -E) on the
# first line of stderr, which starts with "snnctl: ".
refused() {
    want=$1 pat=$2
    shift 2
    snn "$@" || return 1
    [ "$rc" = "$want" ] || { why="exit $rc, expected $want (stderr: $(first "$T/err"))"; return 1; }
    [ ! -s "$T/out" ] || { why="printed on stdout: $(first "$T/out")"; return 1; }
    head -n 1 "$T/err" | grep -q '^snnctl: ' || { why="stderr does not start with 'snnctl: ': $(first "$T/err")"; return 1; }
    head -n 1 "$T/err" | grep -qE -- "$pat" || { why="stderr '$(first "$T/err")' does not match /$pat/"; return 1; }
}

# jqt FILE EXPR: EXPR (jq) must be true on FILE.
jqt() {
    jq -e "$2" "$1" >/dev/null 2>"$T/jq.err" && return 0
    if [ -s "$T/jq.err" ]; then why="not true: $2 (jq: $(first "$T/jq.err"))"
    else why="not true: $2 (on $(jq -c . "$1" | cut -c 1-300))"
    fi
    return 1
}

# has FILE PATTERN: a line of FILE matches PATTERN (grep -E).
has() {
    grep -qE -- "$2" "$1" && return 0
    why="no line matches /$2/ in $(wc -l <"$1") lines: '$(first "$1")' ... '$(tail -n 1 "$1" | cut -c 1-200)'"
    return 1
}

# bytes FILE OFFSET N: N bytes of FILE at OFFSET as unsigned decimals.
bytes() { od -A n -t u1 -j "$2" -N "$3" "$1" | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'; }

# be32 FILE OFFSET: big-endian 32-bit unsigned at OFFSET.
be32() { bytes "$1" "$2" 4 | awk '{ print ((($1 * 256) + $2) * 256 + $3) * 256 + $4 }'; }

# A valid PNG of W x H: signature, IHDR size, and decodable by libsnn's
# decoder (libpng), checked by running the tiny model on it.
png_ok() {
    sig=$(bytes "$1" 0 8)
    [ "$sig" = "137 80 78 71 13 10 26 10" ] || { why="$1: PNG signature is '$sig'"; return 1; }
    [ "$(bytes "$1" 12 4)" = "73 72 68 82" ] || { why="$1: first chunk is not IHDR"; return 1; }
    pw=$(be32 "$1" 16) ph=$(be32 "$1" 20)
    [ "$pw" = "$2" ] && [ "$ph" = "$3" ] || { why="$1: IHDR says ${pw}x$ph, expected ${2}x$3"; return 1; }
    ok run "$TINY" "$1" || { why="does not decode: $why"; return 1; }
}

# An SVG file is well-formed XML with an <svg> root (checked by xmllint
# when libxml2-utils is installed; the tags counted by the cases otherwise).
well_formed() {
    head -n 2 "$1" | grep -q '^<svg ' || { why="$1 has no <svg> root element"; return 1; }
    tail -n 1 "$1" | grep -q '</svg>$' || { why="$1 does not end with </svg>"; return 1; }
    command -v xmllint >/dev/null || return 0
    xmllint --noout "$1" 2>"$T/xml.err" || { why="$1 is not well-formed: $(first "$T/xml.err")"; return 1; }
}

# The class name of label k in a model's config.json.
class_name() { jq -r ".classes[$2]" "$1/config.json"; }

# Fashion-MNIST test label of image i (IDX: 8 header bytes, one byte each).
fm_label() { gzip -dc "$FMDIR/t10k-labels-idx1-ubyte.gz" | od -A n -t u1 -j $((8 + $1)) -N 1 | tr -d ' '; }

have_fm() {
    [ -f "$FMDIR/t10k-images-idx3-ubyte.gz" ] && [ -f "$FM/model.onnx" ] && return 0
    why="$FMDIR or $FMSHIP missing (tools/install-deps.sh installs dataset-fashion-mnist)"
    return 1
}

# ---- info ---------------------------------------------------------------

# Neuron layers as "name:neurons ..." from `snnctl info`; each neuron count
# must equal the product of its CxHxW shape, and the total line their sum.
info_layers() {
    awk '
        $3 == "neurons" { split($5, s, "x"); if (s[1] * s[2] * s[3] != $6) bad = bad " " $2;
                          printf "%s%s:%s", n++ ? " " : "", $2, $6; sum += $6 }
        $1 == "total" { total = $2 }
        END { if (bad != "") printf " BAD-SHAPE%s", bad; if (total != sum) printf " BAD-TOTAL:%s", total; print "" }
    ' "$T/out"
}

t_info_fashion() {
    have_fm || return 1
    ok info "$FM" || return 1
    got=$(info_layers)
    [ "$got" = "conv1:6272 conv2:3136 dense1:64" ] || { why="neuron layers '$got'"; return 1; }
    has "$T/out" '^classes +10: T-shirt/top Trouser' || return 1
    has "$T/out" '^steps +30 ' || return 1
}

t_info_tiny() {
    ok info "$TINY" || return 1
    got=$(info_layers)
    [ "$got" = "conv1:256 conv2:128 fc1:16" ] || { why="neuron layers '$got'"; return 1; }
    has "$T/out" '^input +1x8x8 \(NCHW\)' || return 1
    # a bare .onnx file: classes are the indices
    ok info "$TINY/model.onnx" || return 1
    has "$T/out" '^classes +3: 0 1 2$' || return 1
    got=$(info_layers)
    [ "$got" = "conv1:256 conv2:128 fc1:16" ] || { why="bare .onnx: neuron layers '$got'"; return 1; }
}

# ---- run ----------------------------------------------------------------

# Step lines "  N  T.t  class p ..." of run output: checks there are $1,
# numbered 1..$1 at dt = 1 ms; prints nothing when fine.
step_lines() {
    awk -v want="$1" '
        /^ *[0-9]+ +[0-9]+\.[0-9] / { n++; if ($1 != n || $2 + 0 != n) bad = "line " n " numbered " $1 " at " $2 " ms" }
        END { if (n != want) print n " step lines, expected " want; else if (bad != "") print bad }
    ' "$T/out"
}

t_run_fashion() {
    have_fm || return 1
    ok run "$FM" "$FMD#3" || return 1
    bad=$(step_lines 30)
    [ -z "$bad" ] || { why=$bad; return 1; }
    truth=$(class_name "$FM" "$(fm_label 3)")
    has "$T/out" "^prediction: .+ \\(p=[01]\\.[0-9]{3}\\) after 30 steps; true class: $truth\$" || return 1
    # the prediction is the top class of the last step
    last=$(grep -E '^ +30 ' "$T/out")
    pred=$(sed -nE 's/^prediction: (.*) \(p=([0-9.]+)\).*/\1 \2/p' "$T/out")
    case "$last" in *" $pred "*|*" $pred") ;; *) why="prediction '$pred' is not the top of step 30: $last"; return 1 ;; esac
    has "$T/out" '^spikes: [1-9][0-9]*; estimated energy on loihi: .* J \(the ANN: .* J\)$' || return 1
}

t_run_steps_top_dump() {
    have_fm || return 1
    ok run "$FM" "$FMD#0" --steps 12 --top 2 --dump "$T/run.npy" || return 1
    bad=$(step_lines 12)
    [ -z "$bad" ] || { why=$bad; return 1; }
    n=$(grep -cE '^ +[0-9]+ +[0-9]+\.[0-9] +[^ ].* [01]\.[0-9]{3} [^ ].* [01]\.[0-9]{3}$' "$T/out")
    [ "$n" = 12 ] || { why="$n of 12 step lines show 2 classes"; return 1; }
    npy_ok "$T/run.npy" "12, 1, 10" $((12 * 1 * 10)) || return 1
}

t_run_png_tiny() {
    "$MKPNG" -1 8 8 1 "$T/g8.png" && "$MKPNG" -1 13 11 3 "$T/rgb.png" || { why="mkpng_fixtures failed"; return 1; }
    ok run "$TINY" "$T/g8.png" || return 1
    bad=$(step_lines 20)      # tiny's config: 20 steps
    [ -z "$bad" ] || { why=$bad; return 1; }
    has "$T/out" '^prediction: [abc] \(p=[01]\.[0-9]{3}\) after 20 steps$' || return 1
    ok run "$TINY" "$T/rgb.png" --steps 5 || return 1    # RGB, resized to 8x8 gray
    bad=$(step_lines 5)
    [ -z "$bad" ] || { why="RGB 13x11: $bad"; return 1; }
}

# ---- eval ---------------------------------------------------------------

# npy_ok FILE SHAPE COUNT: a float32 .npy of that shape ("a, b, c") and
# COUNT values; the first 10 values (one step of one image) sum to 1.
npy_ok() {
    [ "$(bytes "$1" 0 8)" = "147 78 85 77 80 89 1 0" ] || { why="$1: not a .npy v1.0 magic"; return 1; }
    hl=$(bytes "$1" 8 2 | awk '{ print $1 + 256 * $2 }')
    size=$(wc -c <"$1")
    want=$((10 + hl + 4 * $3))
    [ "$size" = "$want" ] || { why="$1: $size bytes, expected 10 + $hl + 4 x $3 = $want"; return 1; }
    [ $(((10 + hl) % 64)) = 0 ] || { why="$1: header of $((10 + hl)) bytes is not 64-aligned"; return 1; }
    hdr=$(dd if="$1" bs=1 skip=10 count="$hl" 2>/dev/null)
    case "$hdr" in
    *"'descr': '<f4'"*"'fortran_order': False"*"'shape': ($2), }"*) ;;
    *) why="$1: header $hdr"; return 1 ;;
    esac
    sum=$(od -A n -t f4 -j $((10 + hl)) -N 40 "$1" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.4f", s }')
    [ "$sum" = "1.0000" ] || { why="$1: the first step's probabilities sum to $sum"; return 1; }
}

t_eval_json() {
    have_fm || return 1
    ok eval "$FM" --dataset "$FMD" --limit 200 --json || return 1
    cp "$T/out" "$T/eval.json"
    j=$T/eval.json
    jqt "$j" '.n == 200 and .steps == 30 and .split == "test"' || return 1
    jqt "$j" '(.ann_accuracy | type == "number" and . > 0.5 and . <= 1) and (.snn_accuracy | . >= 0 and . <= 1)' || return 1
    jqt "$j" '.accuracy_by_step | length == 30 and all(.[]; type == "number" and . >= 0 and . <= 1)' || return 1
    jqt "$j" '.accuracy_by_step[-1] == .snn_accuracy and .mean_steps == 30' || return 1
    jqt "$j" '.spikes_per_image > 0 and (.spikes_per_image - ([.layers[].spikes_per_image] | add) | fabs) < 1e-4 * .spikes_per_image + 0.01' || return 1
    jqt "$j" '[.layers[] | .name] == ["conv1", "conv2", "dense1"] and [.layers[] | .neurons] == [6272, 3136, 64]' || return 1
    jqt "$j" 'all(.layers[]; has("spikes_per_image") and has("rate_hz") and (.fired_fraction | . >= 0 and . <= 1) and has("syn_events_per_image"))' || return 1
    jqt "$j" '.energy | length == 6 and all(.[]; (.snn_joules | . > 0) and (.ann_joules | . > 0) and has("snn_synops") and has("ann_synops"))' || return 1
    jqt "$j" '.energy | has("cpu") and has("gpu") and has("loihi")' || return 1
    jqt "$j" '.images_per_second > 0 and .ann_images_per_second > 0 and .threads == 2 and .peak_rss_bytes > 0' || return 1
}

# The kernels the CLI computes with are named in its report; on a CPU with
# AVX2 and FMA, OpenBLAS never runs its generic pre-AVX2 kernels
# (src/sim/blas_core.c: OpenBLAS 0.3.21 does not know this machine's model and
# falls back to Prescott unless the program re-runs itself with
# OPENBLAS_CORETYPE), and the event-driven kernels use the widest tier.
t_eval_kernels_fit_the_cpu() {
    have_fm || return 1
    ok eval "$FM" --dataset "$FMD" --limit 20 --json || return 1
    jqt "$T/out" '.kernels | test("^simd (plain|avx2|avx512), openblas [A-Za-z0-9]+$")' || return 1
    flags=$(grep -m 1 '^flags' /proc/cpuinfo)
    case "$flags" in *" avx2 "*" fma "* | *" fma "*" avx2 "*) ;;
        *) skip_because "this CPU has no AVX2+FMA"; return 0 ;; esac
    jqt "$T/out" '.kernels | test("openblas (Prescott|Core2|Penryn|Dunnington|Nehalem|Atom|Katmai|Coppermine|Northwood|Banias|Sandybridge)$") | not' || return 1
    case "$flags" in *" avx512f "*) jqt "$T/out" '.kernels | startswith("simd avx512")' || return 1 ;;
        *) jqt "$T/out" '.kernels | startswith("simd avx2")' || return 1 ;; esac
    # the fix can be switched off, and is only ever an environment setting
    SNN_BLAS_CORE=keep OPENBLAS_CORETYPE=Haswell ok eval "$FM" --dataset "$FMD" --limit 20 --json || return 1
    jqt "$T/out" '.kernels | endswith("openblas Haswell")' || return 1
}

# Rate neurons without synapses compute the ANN exactly.
t_eval_rate_equals_ann() {
    have_fm || return 1
    ok eval "$FM" --dataset "$FMD" --limit 200 --json --neuron relu --synapse none || return 1
    jqt "$T/out" '.snn_accuracy == .ann_accuracy and .n == 200' || return 1
    jqt "$T/out" '.conversion | test("neuron=relu") and test("synapse=none")' || return 1
}

t_eval_dump() {
    have_fm || return 1
    ok eval "$FM" --dataset "$FMD" --limit 20 --steps 7 --dump "$T/eval.npy" --json || return 1
    npy_ok "$T/eval.npy" "7, 20, 10" $((7 * 20 * 10)) || return 1
}

t_eval_early_exit() {
    have_fm || return 1
    ok eval "$FM" --dataset "$FMD" --limit 200 --early-exit 3 --json || return 1
    jqt "$T/out" '.steps == 30 and .mean_steps < .steps and .mean_steps >= 3' || return 1
    jqt "$T/out" '.early_exit.patience == 3 and (.accuracy_by_step | length) == 30' || return 1
}

# ---- sweep --------------------------------------------------------------

# The frontier: a --neuron axis, every device's energy beside the ANN's,
# and "pareto" exactly on the rows no other row beats on accuracy, mean
# steps and loihi energy (checked against the rows themselves).
t_sweep_frontier() {
    have_fm || return 1
    ok sweep "$FM" --dataset "$FMD" --json --steps 2,4 --neuron if,spiking-relu --early-exit 2 \
        --limit 40 || return 1
    j=$T/out
    jqt "$j" '(.rows | length) == 6 and ([.rows[].neuron] | unique) == ["if", "spiking-relu"]' || return 1
    jqt "$j" '[.rows[] | select(.early_exit_patience == 2)] | length == 2 and all(.[]; .mean_steps <= .steps)' || return 1
    jqt "$j" '.ann_joules as $a | ($a | keys | length) >= 2 and all(.rows[]; .energy | keys == ($a | keys))' || return 1
    jqt "$j" '.ann_joules as $a | all(.rows[]; . as $r | all($a | keys[]; $r.energy[.].ann_joules == $a[.] and $r.energy[.].snn_joules > 0))' || return 1
    jqt "$j" 'all(.rows[]; .loihi_joules == .energy.loihi.snn_joules)' || return 1
    jqt "$j" '.rows as $r | all($r[]; . as $p |
        ([$r[] | select(.accuracy >= $p.accuracy and .mean_steps <= $p.mean_steps and .loihi_joules <= $p.loihi_joules
            and (.accuracy > $p.accuracy or .mean_steps < $p.mean_steps or .loihi_joules < $p.loihi_joules))]
         | length == 0) == $p.pareto)' || return 1
    jqt "$j" '[.rows[] | select(.pareto)] | length >= 1' || return 1
    ok sweep "$FM" --dataset "$FMD" --steps 2 --neuron if,spiking-relu --limit 20 || return 1
    has "$T/out" '^ANN energy per image \(J\): cpu [0-9.e-]+ .*loihi [0-9.e-]+' || return 1
    has "$T/out" '^\* +(if|spiking-relu) ' || return 1
    refused 2 "neuron: 'lif' is not" sweep "$FM" --dataset "$FMD" --neuron if,lif --limit 20 || return 1
}

t_sweep_grid() {
    have_fm || return 1
    ok sweep "$FM" --dataset "$FMD" --json --steps 5,10 --scale-firing-rates 5,50 \
        --synapse none,0.005 --limit 50 || return 1
    j=$T/out
    jqt "$j" '.n == 50 and (.rows | length) == 8' || return 1
    jqt "$j" '[.rows[] | [.scale_firing_rates, .synapse, .steps]] | unique | length == 8' || return 1
    jqt "$j" '[.rows[].steps] | unique == [5, 10]' || return 1
    jqt "$j" '[.rows[].scale_firing_rates] | unique == ["5", "50"]' || return 1
    jqt "$j" '[.rows[].synapse] | unique == [0, 0.005]' || return 1
    jqt "$j" 'all(.rows[]; (.accuracy | . >= 0 and . <= 1) and .mean_steps == .steps and .spikes_per_image >= 0)' || return 1
    # more steps never see fewer spikes in the same simulation
    jqt "$j" '[.rows | group_by([.scale_firing_rates, .synapse])[] | sort_by(.steps) | .[0].spikes_per_image <= .[1].spikes_per_image] | all' || return 1
}

# ---- calibrate ----------------------------------------------------------

t_calibrate_then_eval() {
    have_fm || return 1
    rm -rf "$T/cal" && mkdir "$T/cal" && cp "$FM/model.onnx" "$FM/config.json" "$T/cal/" || { why="copy failed"; return 1; }
    # without thresholds, percentile normalisation is refused
    refused 1 'needs thresholds' eval "$T/cal" --dataset "$FMD" --limit 20 \
        --normalize percentile:99.9 --scale-firing-rates 1 || { why="before calibrate: $why"; return 1; }
    ok calibrate "$T/cal" --dataset "$FMD" --limit 200 || return 1
    has "$T/out" '^conv1 +[0-9.]+$' && has "$T/out" '^dense1 +[0-9.]+$' || return 1
    has "$T/out" "^thresholds written to $T/cal/config.json\$" || return 1
    c=$T/cal/config.json
    jqt "$c" '.conversion.normalize == "percentile:99.9"' || return 1
    jqt "$c" '.conversion.thresholds | keys == ["conv1", "conv2", "dense1"] and all(.[]; . > 0)' || return 1
    jqt "$c" '.classes | length == 10' || return 1
    ok eval "$T/cal" --dataset "$FMD" --limit 200 --normalize percentile:99.9 \
        --scale-firing-rates 1 --json || return 1
    jqt "$T/out" '.conversion | test("normalize=percentile:99.9") and test("thresholds=conv1=")' || return 1
    jqt "$T/out" '.n == 200 and .snn_accuracy > 0.5' || return 1
}

# --bias-correct stores a per-channel table that runs by default, says so
# in the conversion, is switched off by --bias-correction off, and is
# dropped by a calibration that does not remake it.
t_calibrate_bias_correct() {
    have_fm || return 1
    rm -rf "$T/bc" && mkdir "$T/bc" && cp "$FM/model.onnx" "$FM/config.json" "$T/bc/" || { why="copy failed"; return 1; }
    refused 1 'needs calibration images' eval "$T/bc" --dataset "$FMD" --limit 20 --bias-correct || return 1
    ok calibrate "$T/bc" --dataset "$FMD" --limit 200 --bias-correct --bias-images 20 --steps 8 \
        --neuron if --synapse none --scale-firing-rates 2 || return 1
    has "$T/out" "^thresholds and bias correction written to $T/bc/config.json\$" || return 1
    has "$T/err" 'bias correction on 20 images at 8 steps' || return 1
    c=$T/bc/config.json
    jqt "$c" '.steps == 8 and .conversion.bias_correction == "on" and .conversion.neuron == "if"' || return 1
    jqt "$c" '.bias_correction | .steps == 8 and .images == 20 and (.conversion | test("neuron=if"))' || return 1
    jqt "$c" '.bias_correction.layers | keys == ["conv1", "conv2", "dense1"] and (.conv1 | length) == 8 and (.dense1 | length) == 64 and all(.[]; all(.[]; type == "number"))' || return 1
    jqt "$c" '[.bias_correction.layers[][]] | map(if . < 0 then -. else . end) | add > 0' || return 1
    ok eval "$T/bc" --dataset "$FMD" --limit 40 --json || return 1
    jqt "$T/out" '.conversion | test("bias_correction=on")' || return 1
    on=$(jq .snn_accuracy "$T/out")
    # a sweep that measures its own corrections on a model with a stored
    # one (it freed the stored table and then freed it again at exit)
    ok sweep "$T/bc" --dataset "$FMD" --limit 10 --steps 4 --json --calibrate "$FMD:40" \
        --bias-correct --bias-images 10 --bias-correction on,off || return 1
    jqt "$T/out" '[.rows[].bias_correction] | sort == ["off", "on"]' || return 1
    # on a model without a stored correction, --bias-correct alone corrects every row
    ok sweep "$FM" --dataset "$FMD" --limit 10 --steps 4 --json --calibrate "$FMD:40" \
        --bias-correct --bias-images 10 || return 1
    jqt "$T/out" 'all(.rows[]; .conversion | test("bias_correction=on"))' || return 1
    ok eval "$T/bc" --dataset "$FMD" --limit 40 --json --bias-correction off || return 1
    jqt "$T/out" '.conversion | test("bias_correction") | not' || return 1
    # a broken table is refused naming it
    jq '.bias_correction.layers.conv1 = [1, 2]' "$c" >"$T/bc/c2" && mv "$T/bc/c2" "$c" || { why="jq edit failed"; return 1; }
    refused 1 "layer 'conv1' has 8 channels, not 2" eval "$T/bc" --dataset "$FMD" --limit 20 || return 1
    ok calibrate "$T/bc" --dataset "$FMD" --limit 200 || return 1
    has "$T/out" 'stored bias correction is dropped' || return 1
    jqt "$c" 'has("bias_correction") | not' || return 1
    jqt "$c" '.conversion | has("bias_correction") | not' || return 1
    [ -n "$on" ] || { why="no accuracy"; return 1; }
}

# ---- plot ---------------------------------------------------------------

t_plot_raster_svg() {
    have_fm || return 1
    # the shipped calibrated conversion, run for 30 steps: the model is
    # trained for sparse activity, and under the nengo reference (no
    # thresholds, scale 20) the first 200 conv1 neurons of image 0 do not
    # fire at all, which would leave nothing to count
    ok plot raster "$FMSHIP" "$FMD#0" --layer conv1 --neurons 200 --steps 30 -o "$T/raster.svg" || return 1
    has "$T/out" "^$T/raster.svg: fashion-mnist: conv1, 200 of 6272 neurons, [0-9]+ spikes \\(predicted: .+\\), 30 steps, [0-9]+ bytes\$" || return 1
    well_formed "$T/raster.svg" || return 1
    spikes=$(sed -nE 's/.* ([0-9]+) spikes \(predicted.*/\1/p' "$T/out")
    marks=$(sed -n '/<g id="spikes"/,/<\/g>/p' "$T/raster.svg" | grep -o '<rect ' | wc -l)
    [ -n "$spikes" ] && [ "$spikes" -gt 0 ] || { why="no spike count, or no spikes, in: $(first "$T/out")"; return 1; }
    [ "$marks" = "$spikes" ] || { why="$marks spike rects for $spikes spikes"; return 1; }
    size=$(wc -c <"$T/raster.svg")
    has "$T/out" ", $size bytes\$" || return 1
}

t_plot_raster_png() {
    have_fm || return 1
    ok plot raster "$FM" "$FMD#0" --layer dense1 --size 400x300 -o "$T/raster.png" || return 1
    has "$T/out" 'dense1, 64 of 64 neurons' || return 1
    png_ok "$T/raster.png" 400 300 || return 1
}

t_plot_probs_svg() {
    have_fm || return 1
    ok plot probs "$FM" "$FMD#0" -o "$T/probs.svg" || return 1
    truth=$(class_name "$FM" "$(fm_label 0)")
    has "$T/out" "^$T/probs.svg: true: $truth, predicted: .+, 30 steps, [0-9]+ bytes\$" || return 1
    well_formed "$T/probs.svg" || return 1
    n=$(grep -o '<polyline' "$T/probs.svg" | wc -l)
    [ "$n" = 10 ] || { why="$n polylines for 10 classes"; return 1; }
    # tiny: 3 classes, 20 steps, --label by name
    "$MKPNG" -1 8 8 1 "$T/g8.png" || { why="mkpng_fixtures failed"; return 1; }
    ok plot probs "$TINY" "$T/g8.png" --label b -o "$T/tiny.svg" || return 1
    has "$T/out" ': true: b, predicted: [abc], 20 steps, ' || return 1
    n=$(grep -o '<polyline' "$T/tiny.svg" | wc -l)
    [ "$n" = 3 ] || { why="tiny: $n polylines for 3 classes"; return 1; }
}

t_plot_probs_png() {
    have_fm || return 1
    ok plot probs "$FM" "$FMD#5" --steps 10 -o "$T/probs.png" || return 1
    has "$T/out" ', 10 steps, [0-9]+ bytes$' || return 1
    png_ok "$T/probs.png" 800 500 || return 1
}

# A dataset label that is not a class of the model (Fashion-MNIST label 9,
# tiny has 3 classes) is not shown as the true class.
t_plot_probs_foreign_label() {
    have_fm || return 1
    [ "$(fm_label 0)" -ge 3 ] || { why="Fashion-MNIST image 0 has label $(fm_label 0) (< 3)"; return 1; }
    ok plot probs "$TINY" "$FMD#0" -o "$T/foreign.svg" || return 1
    has "$T/out" ': predicted: [abc], 20 steps, ' || return 1
}

# ---- refusals -----------------------------------------------------------

t_err_unknown_command() {
    refused 2 "unknown command 'frobnicate'" frobnicate || return 1
    has "$T/err" '^usage: snnctl COMMAND' || return 1
}

# Every command answers --help and -h with its usage on stdout and status 0
# (the top-level usage promises "snnctl COMMAND --help for details").
t_help_every_command() {
    for c in info run eval sweep calibrate plot conform; do
        for h in --help -h; do
            ok $c $h || return 1
            [ ! -s "$T/err" ] || { why="snnctl $c $h wrote to stderr: $(first "$T/err")"; return 1; }
            head -n 1 "$T/out" | grep -q "^usage: snnctl $c" ||
                { why="snnctl $c $h: first line '$(first "$T/out")' is not its usage"; return 1; }
        done
    done
}

t_run_ann_beside_snn() {
    ok run "$TINY" "$ROOT/tests/data/images/gray8.png" --steps 3 || return 1
    grep -Eq '^ANN prediction: [^ ]+ \(p=[01]\.[0-9]+\)$' "$T/out" ||
        { why="no ANN prediction line in: $(cat "$T/out")"; return 1; }
}

t_eval_refuses_other_dataset() {
    have_fm || return 0
    have_cifar || return 0
    refused 1 "does not fit fashion-mnist: 10 classes of 32x32x3 images \(airplane" \
        eval "$FM" --dataset "cifar10:$CIFAR" --limit 5 || return 1
}

t_progress_only_on_a_terminal() {
    command -v script >/dev/null 2>&1 || { why="script (util-linux) missing"; return 1; }
    # a terminal on stderr (script's pty): a progress bar that ends full
    script -qec "'$ROOT/$BUILD/snnctl' eval '$TINY' --dataset 'folder:$ROOT/tests/data/images/folder' --json >/dev/null" \
        /dev/null > "$T/tty" 2>&1 || { why="eval under a terminal failed"; return 1; }
    tr '\r' '\n' < "$T/tty" | grep -q '\[#*\] 3/3 images' || { why="no progress bar: $(cat "$T/tty")"; return 1; }
    # no terminal: nothing on stderr
    ok eval "$TINY" --dataset "folder:$ROOT/tests/data/images/folder" --json || return 1
    [ ! -s "$T/err" ] || { why="stderr without a terminal: $(first "$T/err")"; return 1; }
}

t_version_both_binaries() {
    ok --version || return 1
    grep -qx 'snnctl [0-9][0-9.]*' "$T/out" || { why="snnctl --version printed '$(first "$T/out")'"; return 1; }
    v=$(sed 's/^snnctl //' "$T/out")
    d=$("$ROOT/$BUILD/snnd" --version) || { why="snnd --version failed"; return 1; }
    [ "$d" = "snnd $v" ] || { why="snnd --version '$d', snnctl $v"; return 1; }
}

t_err_missing_model() {
    refused 1 "$T/no-such-model" info "$T/no-such-model" || return 1
    refused 1 "$T/no-such-model" run "$T/no-such-model" "$T/x.png" || return 1
}

t_err_corrupt_model() {
    mkdir -p "$T/bad" && cp "$TINY/config.json" "$T/bad/" || { why="copy failed"; return 1; }
    echo "this is not protobuf" >"$T/bad/model.onnx"
    refused 1 'model.onnx: not an ONNX model' info "$T/bad" || { why="text: $why"; return 1; }
    head -c 2000 "$TINY/model.onnx" >"$T/bad/model.onnx"
    refused 1 'model.onnx: ' run "$T/bad" "$ROOT/tests/data/images/gray8.png" || { why="truncated: $why"; return 1; }
    : >"$T/bad/model.onnx"
    refused 1 'model.onnx: ' info "$T/bad" || { why="empty: $why"; return 1; }
}

# tiny-nhwc has a MaxPool: the spiking gate by default (rate mode = the ANN),
# AveragePool with --maxpool avg, which info and eval (text and JSON) report.
t_maxpool_note() {
    NHWC=$ROOT/tests/data/tiny-nhwc
    ok info "$NHWC" || return 1
    has "$T/out" '^2 +conv2d_1 +neurons +MaxPool\+Conv ' || return 1
    if grep -q '^note' "$T/out"; then why="a note without --maxpool avg"; return 1; fi
    ok info "$NHWC" --maxpool avg || return 1
    has "$T/out" "^note +MaxPool '[^']+' converted to AveragePool \\(maxpool=avg" || return 1
    has "$T/out" '^2 +conv2d_1 +neurons +AveragePool\+Conv ' || return 1
    ok eval "$NHWC" --dataset "folder:$ROOT/tests/data/images/folder" --steps 4 --maxpool avg || return 1
    has "$T/out" '^note +MaxPool .* AveragePool' || return 1
    ok eval "$NHWC" --dataset "folder:$ROOT/tests/data/images/folder" --steps 4 --json --max-pool avg || return 1
    jqt "$T/out" '(.notes | length) == 1 and (.notes[0] | test("AveragePool")) and (.conversion | test("maxpool=avg"))' || return 1
    ok eval "$NHWC" --dataset "folder:$ROOT/tests/data/images/folder" --json --neuron relu --synapse none || return 1
    jqt "$T/out" '.notes == [] and .snn_accuracy == .ann_accuracy' || return 1
    jqt "$T/out" '[.layers[].reads] == ["input", "conv2d", "conv2d_1"]' || return 1
    refused 2 "maxpool: 'max' is not gated or avg" info "$NHWC" --maxpool max || return 1
}

t_err_bad_flag_values() {
    refused 2 "synapse: '-1'" run "$TINY" "$ROOT/tests/data/images/gray8.png" --synapse -1 || return 1
    refused 2 "--steps: steps: '0' is not a whole number" run "$TINY" "$ROOT/tests/data/images/gray8.png" --steps 0 || return 1
    refused 2 "v0: 'uniform:x'" run "$TINY" "$ROOT/tests/data/images/gray8.png" --v0 uniform:x || return 1
    refused 2 "--steps: steps: 'x'" eval "$TINY" --dataset "folder:$ROOT/tests/data/images/folder" --steps x || return 1
    refused 2 "scale_firing_rates: '-3'" info "$TINY" --scale-firing-rates -3 || return 1
    refused 2 '--early-exit: early_exit: min_prob' eval "$TINY" --dataset "folder:$ROOT/tests/data/images/folder" --early-exit 2:7 || return 1
    refused 2 "plot: '$T/x.gif' does not end in .svg or .png" plot probs "$TINY" "$ROOT/tests/data/images/gray8.png" -o "$T/x.gif" || return 1
}

t_err_plot_layer() {
    have_fm || return 1
    refused 1 "--layer: 'nope' is not a neuron layer of fashion-mnist" \
        plot raster "$FM" "$FMD#0" --layer nope -o "$T/x.svg" || return 1
    has "$T/err" '^neuron layers: conv1 \(6272\) conv2 \(3136\) dense1 \(64\)$' || return 1
    refused 1 "is not a neuron layer" plot raster "$FM" "$FMD#0" --layer input -o "$T/x.svg" || return 1
    refused 2 "--neuron relu has no spikes" plot raster "$FM" "$FMD#0" --layer conv1 --neuron relu -o "$T/x.svg" || return 1
    [ ! -e "$T/x.svg" ] || { why="a plot was written"; return 1; }
}

t_err_dataset_spec() {
    refused 1 "unknown dataset format 'nosuch'" eval "$TINY" --dataset nosuch:/x || return 1
    refused 1 "$T/none" eval "$TINY" --dataset "folder:$T/none" || return 1
    refused 1 "$T/none/t10k-images" eval "$TINY" --dataset "fashion-mnist:$T/none" || return 1
    refused 1 "unknown dataset format 'nosuch'" run "$TINY" 'nosuch:/x#0' || return 1
    refused 1 'needs thresholds' eval "$TINY" --dataset "folder:$ROOT/tests/data/images/folder" --normalize max || return 1
}

t_err_image() {
    refused 1 "bad image index" run "$TINY" "folder:$ROOT/tests/data/images/folder#x" || return 1
    refused 1 "bad image index" run "$TINY" "folder:$ROOT/tests/data/images/folder#-1" || return 1
    refused 1 'no such file|No such file' run "$TINY" "$T/missing.png" || return 1
    refused 1 'truncated.png' run "$TINY" "$ROOT/tests/data/images/truncated.png" || return 1
    refused 1 'bomb_60000.png' plot probs "$TINY" "$ROOT/tests/data/images/bomb_60000.png" -o "$T/x.svg" || return 1
    # the committed folder fixture has 3 images
    ok run "$TINY" "folder:$ROOT/tests/data/images/folder#2" --steps 3 || return 1
    refused 1 "offset 3 is beyond its 3 images" run "$TINY" "folder:$ROOT/tests/data/images/folder#3" || return 1
    have_fm || return 1
    refused 1 "offset 99999 is beyond its 10000 images" run "$FM" "$FMD#99999" || return 1
    refused 1 "offset 10000 is beyond" plot probs "$FM" "$FMD#10000" -o "$T/x.svg" || return 1
}

# ---- datasets: folders, CIFAR-10 ----------------------------------------

# A folder dataset made here: 3 classes x 2 PNGs of different sizes and
# channels (resized to the first image's size by the reader).
t_eval_folder() {
    for c in a b c; do mkdir -p "$T/folder/$c"; done
    "$MKPNG" -1 8 8 1 "$T/folder/a/1.png" && "$MKPNG" -1 10 9 1 "$T/folder/a/2.png" &&
        "$MKPNG" -1 16 12 1 "$T/folder/b/1.png" && "$MKPNG" -1 5 7 1 "$T/folder/b/2.png" &&
        "$MKPNG" -1 8 8 1 "$T/folder/c/1.png" && "$MKPNG" -1 30 20 1 "$T/folder/c/2.png" ||
        { why="mkpng_fixtures failed"; return 1; }
    ok eval "$TINY" --dataset "folder:$T/folder" --json || return 1
    jqt "$T/out" '.n == 6 and (.accuracy_by_step | length) == 20' || return 1
    jqt "$T/out" '[.layers[].name] == ["conv1", "conv2", "fc1"]' || return 1
    ok eval "$TINY" --dataset "folder:$T/folder" --json --neuron relu --synapse none || return 1
    jqt "$T/out" '.snn_accuracy == .ann_accuracy' || return 1
    # the committed fixture: 2 classes, notes.txt ignored
    ok eval "$TINY" --dataset "folder:$ROOT/tests/data/images/folder" --json --steps 4 || return 1
    jqt "$T/out" '.n == 3 and (.accuracy_by_step | length) == 4' || return 1
}

have_cifar() {
    [ -f "$CIFAR/test_batch.bin" ] && return 0
    skip_because "$CIFAR/test_batch.bin missing"
    return 1
}

# CIFAR-10 label of test image i (3073-byte records, label first).
cifar_label() { od -A n -t u1 -j $(($1 * 3073)) -N 1 "$CIFAR/test_batch.bin" | tr -d ' '; }

t_cifar_run() {
    have_cifar || return 0
    ok run "$TINY" "cifar10:$CIFAR#19" --steps 5 || return 1
    bad=$(step_lines 5)
    [ -z "$bad" ] || { why=$bad; return 1; }
    label=$(cifar_label 19)
    if [ "$label" -lt 3 ]; then
        has "$T/out" "true class: $(class_name "$TINY" "$label")\$" || return 1
    else
        ! grep -q 'true class' "$T/out" || { why="label $label is not a class of tiny: $(grep 'true class' "$T/out")"; return 1; }
    fi
    # image 10000 does not exist in the test split
    refused 1 'beyond' run "$TINY" "cifar10:$CIFAR#10000" || return 1
}

# The figure in the README: the conv1 raster of cifar10-seed, test image 19.
# Its 512 sampled neurons must show spikes from many channels (evenly
# spaced indices once sampled only channel 0, which never fires there).
t_cifar_seed_raster() {
    have_cifar || return 0
    seed="$ROOT/models/cifar10-seed"
    [ -f "$seed/model.onnx" ] || { skip_because "models/cifar10-seed missing"; return 0; }
    for l in conv1 conv2 conv3 dense1; do
        ok plot raster "$seed" "cifar10:$CIFAR#19" --layer $l -o "$T/r-$l.svg" || return 1
        spikes=$(sed -nE 's/.* ([0-9]+) spikes \(predicted.*/\1/p' "$T/out")
        [ -n "$spikes" ] && [ "$spikes" -gt 0 ] || { why="$l raster: no spikes in: $(first "$T/out")"; return 1; }
    done
}

# tools/readme-results.sh: the README's headline table is docs/results.md's.
t_readme_results() {
    rr="$ROOT/tools/readme-results.sh"
    printf 'Generated by `make results` (tools/results.sh) on 2031-01-02. Headline\n\n| model | ANN %% | x |\n|---|---:|---:|\n| m1 | 1.00 | 2 |\n\nrest\n' >"$T/res.md"
    printf '# T\n\n<!-- results:begin -->\nstale\n<!-- results:end -->\n\nafter\n' >"$T/readme.md"
    "$rr" "$T/res.md" "$T/readme.md" 2>"$T/err" || { why="splice failed: $(first "$T/err")"; return 1; }
    has "$T/readme.md" '^\| m1 \| 1\.00 \| 2 \|$' || return 1
    has "$T/readme.md" 'on 2031-01-02' || return 1
    has "$T/readme.md" '^after$' || return 1
    ! grep -q stale "$T/readme.md" || { why="stale content kept"; return 1; }
    cp "$T/readme.md" "$T/readme1.md"
    "$rr" "$T/res.md" "$T/readme.md" 2>/dev/null && cmp -s "$T/readme.md" "$T/readme1.md" ||
        { why="a second run changed the README"; return 1; }
    printf '# no markers\n' >"$T/plain.md"
    if "$rr" "$T/res.md" "$T/plain.md" 2>"$T/err"; then why="no markers accepted"; return 1; fi
    has "$T/err" 'no results:begin/end markers' || return 1
    [ "$(cat "$T/plain.md")" = "# no markers" ] || { why="README without markers was modified"; return 1; }
    # the committed README is in sync with the committed docs/results.md
    cp "$ROOT/README.md" "$T/README.md"
    "$rr" "$ROOT/docs/results.md" "$T/README.md" 2>/dev/null || { why="splice of the real README failed"; return 1; }
    cmp -s "$T/README.md" "$ROOT/README.md" ||
        { why="README.md's results table differs from docs/results.md: run tools/readme-results.sh"; return 1; }
}

t_cifar_eval() {
    have_cifar || return 0
    model=""
    for m in "$ROOT/models/cifar10" "$ROOT/models/cifar10-seed"; do
        [ -f "$m/model.onnx" ] && { model=$m; break; }
    done
    if [ -z "$model" ]; then
        # no CIFAR-10 model shipped yet: the tiny model reads CIFAR-10 (RGB
        # 32x32 to gray 8x8); rate neurons match the ANN
        ok eval "$TINY" --dataset "cifar10:$CIFAR" --limit 50 --json --neuron relu --synapse none || return 1
        jqt "$T/out" '.n == 50 and .snn_accuracy == .ann_accuracy' || return 1
        return 0
    fi
    ok eval "$model" --dataset "cifar10:$CIFAR" --limit 100 --json || return 1
    jqt "$T/out" '.n == 100 and .ann_accuracy > 0.3 and (.energy | length) == 6' || return 1
    ok eval "$model" --dataset "cifar10:$CIFAR" --limit 100 --json --neuron relu --synapse none || return 1
    jqt "$T/out" '.snn_accuracy == .ann_accuracy' || return 1
}

# ---- shipped models -----------------------------------------------------

# A shipped model's default config (as config.json has it: conversion,
# steps, early exit, bias correction) on the first 1,000 test images, SNN
# and ANN measured in the same run: the SNN within 1 point of its own ANN
# (shipped_default_within_1_point_*), and its estimated loihi energy per
# image on the same side of the ANN's as on the held-out training images
# `snnctl calibrate --target` chose it on (shipped_default_energy_as_
# calibrated_*: the record's claim holds on test images). A broken
# conversion (the uncalibrated nengo reference, thresholds of another
# model) cannot pass, and a shipped model without the calibration record
# fails.
shipped_eval() {
    m=$SHIPPED
    [ -f "$m/model.onnx" ] || { why="$m/model.onnx missing"; return 1; }
    if ! jq -e 'has("calibration")' "$m/config.json" >/dev/null; then
        why="$m has no calibration record (snnctl calibrate $m --target 0.5 ...)"
        return 1
    fi
    shape=$(jq -r '.input | "\(.channels)x\(.height)x\(.width)"' "$m/config.json")
    case $shape in
        3x32x32) have_cifar || return 2; ds=cifar10:$CIFAR ;;
        1x28x28) have_fm || return 1; ds=$FMD ;;
        *) why="$m: no test dataset known for input $shape"; return 1 ;;
    esac
    # one evaluation per model serves both cases
    res=$T/shipped-$(basename "$m").json
    if [ ! -s "$res" ]; then
        ok eval "$m" --dataset "$ds" --limit 1000 --json || return 1
        cp "$T/out" "$res"
    fi
    jqt "$res" '.n == 1000' || return 1
}
t_shipped_accuracy() {
    shipped_eval
    case $? in 1) return 1 ;; 2) return 0 ;; esac
    jqt "$res" '.snn_accuracy >= .ann_accuracy - 0.01' || { why="$(basename "$m"): $why"; return 1; }
}
t_shipped_energy() {
    shipped_eval
    case $? in 1) return 1 ;; 2) return 0 ;; esac
    claim=$(jq '.calibration.selection_figures | .loihi_joules < .ann_loihi_joules' "$m/config.json")
    jqt "$res" "(.energy.loihi.snn_joules < .energy.loihi.ann_joules) == $claim" || {
        why="$(basename "$m"): loihi $(jq .energy.loihi.snn_joules "$res") J per image, ANN $(jq .energy.loihi.ann_joules "$res") J; calibration claimed below: $claim"
        return 1
    }
}

# ---- conform ------------------------------------------------------------

t_conform() {
    [ -d "$ONNXDATA/test_relu" ] || { skip_because "$ONNXDATA missing (libonnx-testdata)"; return 0; }
    ok conform "$ONNXDATA/test_relu" "$ONNXDATA/test_conv_with_strides_padding/" || return 1
    has "$T/out" '^PASS test_relu$' || return 1
    has "$T/out" '^PASS test_conv_with_strides_padding$' || return 1
    has "$T/out" '^2 passed, 0 failed, 0 skipped$' || return 1
    # both also convert: their rate-mode spiking nets give the expected outputs
    has "$T/out" '^2 of the passed also converted to spiking nets' || return 1
    # a folder without a model fails, and says so
    snn conform "$ONNXDATA/test_relu" "$T" || return 1
    [ "$rc" = 1 ] || { why="conform on a folder without model.onnx exited $rc"; return 1; }
    has "$T/out" '^FAIL .*: no model.onnx$' || return 1
    has "$T/out" '^1 passed, 1 failed, 0 skipped$' || return 1
}

# ---- the cases ----------------------------------------------------------

case_ info_fashion_mnist_layers t_info_fashion
case_ info_tiny_and_bare_onnx t_info_tiny
case_ run_30_steps_and_prediction t_run_fashion
case_ run_steps_top_dump t_run_steps_top_dump
case_ run_png_file_tiny t_run_png_tiny
case_ eval_json_documented_keys t_eval_json
case_ eval_kernels_fit_the_cpu t_eval_kernels_fit_the_cpu
case_ eval_rate_neurons_equal_ann t_eval_rate_equals_ann
case_ eval_dump_npy t_eval_dump
case_ eval_early_exit_mean_steps t_eval_early_exit
case_ eval_folder_dataset t_eval_folder
case_ sweep_json_grid t_sweep_grid
case_ sweep_frontier_pareto t_sweep_frontier
case_ calibrate_bias_correct_stored t_calibrate_bias_correct
case_ calibrate_writes_thresholds t_calibrate_then_eval
case_ plot_raster_svg t_plot_raster_svg
case_ plot_raster_png t_plot_raster_png
case_ plot_probs_svg t_plot_probs_svg
case_ plot_probs_png t_plot_probs_png
case_ plot_probs_label_not_a_class t_plot_probs_foreign_label
case_ maxpool_avg_is_reported t_maxpool_note
case_ error_unknown_command t_err_unknown_command
case_ help_every_command t_help_every_command
case_ version_both_binaries t_version_both_binaries
case_ progress_only_on_a_terminal t_progress_only_on_a_terminal
case_ run_ann_beside_snn t_run_ann_beside_snn
case_ eval_refuses_other_dataset t_eval_refuses_other_dataset
case_ error_missing_model t_err_missing_model
case_ error_corrupt_model t_err_corrupt_model
case_ error_bad_flag_values t_err_bad_flag_values
case_ error_plot_unknown_layer t_err_plot_layer
case_ error_bad_dataset_spec t_err_dataset_spec
case_ error_image_missing_corrupt_out_of_range t_err_image
case_ cifar10_run_true_class t_cifar_run
case_ cifar10_seed_raster_has_spikes t_cifar_seed_raster
case_ readme_results_table_in_sync t_readme_results
case_ cifar10_eval t_cifar_eval
case_ conform_onnx_node_tests t_conform
for SHIPPED in "$ROOT"/models/*/; do
    SHIPPED=${SHIPPED%/}
    [ -f "$SHIPPED/config.json" ] || continue
    case_ "shipped_default_within_1_point_$(basename "$SHIPPED")" t_shipped_accuracy
    case_ "shipped_default_energy_as_calibrated_$(basename "$SHIPPED")" t_shipped_energy
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
