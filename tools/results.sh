#!/bin/sh
# results.sh: regenerates docs/results.md (and docs/figures/) from the
# shipped models: `make results`. Every number in the file comes from the
# snnctl command printed next to it, run by this script on this machine.
#
#   RESULTS_LIMIT=10000 (images per mode), RESULTS_GRAPH_LIMIT (the same,
#   for cifar10-resnet and cifar10-vgg), RESULTS_EXTRA_LIMIT=2000 (the
#   --maxpool avg comparison), RESULTS_SWEEP_LIMIT=1000 (images per point of
#   the nengo sweep), RESULTS_MODELS="cifar10-seed ..." (which sections),
#   RESULTS_OUT=docs/results.md, RESULTS_DIR=build/results (every run's
#   JSON and command), RESULTS_REUSE=1 (reuse runs whose command and model
#   did not change)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
S=${SNNCTL_WRAP:-$BUILD/snnctl}
SHARED=${SNN_SHARED:-../shared}
CIFAR="cifar10:$SHARED/datasets/cifar10"
FMNIST="fashion-mnist:/usr/share/datasets/fashion-mnist"
SWEEP_N=${RESULTS_SWEEP_LIMIT:-1000}
OUT=${RESULTS_OUT:-docs/results.md}
FIG=${RESULTS_FIG:-docs/figures}
mkdir -p "$FIG"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Every run's JSON is kept in RUNS with the command that made it. With
# RESULTS_REUSE=1 a run whose command is unchanged and whose model files
# are older than its output is read back instead of run again (for
# regenerating one section while others' models do not change).
RUNS=${RESULTS_DIR:-$BUILD/results}
mkdir -p "$RUNS"
run_cached() { # OUT CMD...: CMD's stdout into OUT, or OUT reused
    rc_out=$1
    shift
    if [ "${RESULTS_REUSE:-0}" = 1 ] && [ -s "$rc_out" ] && [ -f "$rc_out.cmd" ] &&
        [ "$(cat "$rc_out.cmd")" = "$*" ] && [ -z "$(find "$MODEL" -newer "$rc_out" -type f)" ]; then
        echo "results: reusing $rc_out" >&2
        return 0
    fi
    "$@" >"$rc_out.part"
    mv "$rc_out.part" "$rc_out"
    echo "$*" >"$rc_out.cmd"
}

# The conversion modes compared for every model (issues 5, 11, 12):
# - nengo reference: the seed blog's nengo_dl.Converter setting;
# - best spiking-relu: data-based thresholds (99.9th percentile of each
#   layer's ANN activations on 1,000 training images; for networks trained
#   with clipped activations, each layer's Clip ceiling), v0 = half the
#   threshold, no synapse, a non-spiking mean readout, BEST_SCALE spikes per
#   step at the threshold;
# - best if: the same with the signed integrate-and-fire neuron;
# - binary if: if at one spike per step at the threshold (scale 1);
# - binary if + bias correction (when snnctl has --bias-correct);
# - the model's shipped default (its config.json, what the daemon serves).
# One simulation of a mode serves 4, 8, 16 and 30 steps (snnctl sweep).
BEST_SCALE=${BEST_SCALE:-8}
LIMIT_ALL=${RESULTS_LIMIT:-10000}
GRAPH_LIMIT=${RESULTS_GRAPH_LIMIT:-$LIMIT_ALL}   # the graph models (slower)
LIMIT=$LIMIT_ALL
EXTRA_LIMIT=${RESULTS_EXTRA_LIMIT:-2000}
EARLY=${EARLY:-4:0.5}
STEPS=4,8,16,30
REF_FLAGS="--neuron spiking-relu --scale-firing-rates 20 --synapse 0.005 --v0 uniform:0 --normalize none --readout filtered"
# a model's stored bias correction applies only where a row says so
has_bias=0
$S eval --help 2>&1 | grep -q -- '--bias-correct' && has_bias=1
[ "$has_bias" = 1 ] && REF_FLAGS="$REF_FLAGS --bias-correction off"

pct() { jq -r "$1" "$2" | awk '{ if ($1 == "null") print "-"; else printf "%.2f", 100 * $1 }'; }
num() { jq -r "$1" "$2" | awk '{ if ($1 == "null") print "-"; else printf "%.4g", $1 }'; }
diffp() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", 100 * (a - b) }'; }

# mode KEY LABEL LIMIT FLAGS...: a sweep over STEPS, its command kept
mode() {
    mk=$1 ml=$2 mn=$3
    shift 3
    echo "results: $name: $ml ($mn images)" >&2
    echo "$mk|$ml|$mn|snnctl sweep $MODEL --dataset $DS --limit $mn --steps $STEPS --json $*" >>"$tmp/$name-modes"
    run_cached "$RUNS/$name-$mk.json" $S sweep "$MODEL" --dataset "$DS" --limit "$mn" --steps "$STEPS" --json "$@"
    cp "$RUNS/$name-$mk.json" "$tmp/$name-$mk.json"
}

row_at() { # key steps field
    jq -r --argjson T "$2" ".rows[] | select(.steps == \$T) | $3" "$tmp/$name-$1.json" | head -n 1
}

section() { # model-dir dataset-spec title [normalize [binary-normalize]]
    MODEL=$1
    DS=$2
    name=$(basename "$MODEL")
    norm=${4:-percentile:99.9}
    bnorm=${5:-$norm}   # the binary rows' thresholds
    case $norm in
    ceiling) nf="--normalize ceiling" bf="--calibrate $DS:1000" ;;   # images for bias correction only
    *) nf="--normalize $norm --calibrate $DS:1000" bf="" ;;
    esac
    case $bnorm in
    ceiling) bnf="--normalize ceiling" ;;
    *) bnf="--normalize $bnorm --calibrate $DS:1000" ;;
    esac
    LIMIT=$LIMIT_ALL
    [ "$norm" = ceiling ] && LIMIT=$GRAPH_LIMIT
    base="$nf --v0 half --synapse none --readout mean"
    bbase="$bnf --v0 half --synapse none --readout mean"
    off=""
    [ "$has_bias" = 1 ] && off="--bias-correction off"
    : >"$tmp/$name-modes"
    # shellcheck disable=SC2086
    {
        mode ref "nengo reference" "$LIMIT" $REF_FLAGS
        mode srelu "best spiking-relu" "$LIMIT" --neuron spiking-relu --scale-firing-rates "$BEST_SCALE" $base $off
        mode if8 "best if" "$LIMIT" --neuron if --scale-firing-rates "$BEST_SCALE" $base $off
        mode if1 "binary if" "$LIMIT" --neuron if --scale-firing-rates 1 $bbase $off
        [ "$has_bias" = 1 ] &&
            mode if1b "binary if + bias correction (measured at 30 steps)" "$LIMIT" --neuron if --scale-firing-rates 1 $bbase $bf --bias-correct
        if $S info "$MODEL" | grep -q MaxPool; then
            mode avg "binary if, --maxpool avg" "$EXTRA_LIMIT" --neuron if --scale-firing-rates 1 $base --maxpool avg $off
        fi
        echo "results: $name: shipped default" >&2
        run_cached "$RUNS/$name-default.json" $S eval "$MODEL" --dataset "$DS" --limit "$LIMIT" --json
        cp "$RUNS/$name-default.json" "$tmp/$name-default.json"
        if [ "$name" != cifar10-resnet ] && [ "$name" != cifar10-vgg ]; then
            echo "results: sweep $name" >&2
            run_cached "$RUNS/$name-sweep.json" $S sweep "$MODEL" --dataset "$DS" --limit "$SWEEP_N" --steps 10,20,30,50,100 \
                --scale-firing-rates 5,20,50,100 --synapse none,0.001,0.005,0.01 --json \
                --neuron spiking-relu --v0 uniform:0 --normalize none --readout filtered
            cp "$RUNS/$name-sweep.json" "$tmp/$name-sweep.json"
        fi
    }
    f=$tmp/$name-default.json
    ann=$(jq -r .ann_accuracy "$f")
    annj=$(num .energy.loihi.ann_joules "$f")
    {
        echo "## $3 (\`$MODEL\`)"
        echo
        echo "ANN accuracy: **$(pct .ann_accuracy "$f")%** on $(jq .n "$f") test images; ANN energy on loihi $annj J per image."
        echo
        echo "| mode | images | steps | SNN acc % | vs ANN (points) | spikes/image | loihi J/image | SNN/ANN energy |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        while IFS='|' read -r k ml mn _; do
            for T in 30 16 8 4; do
                a=$(row_at "$k" "$T" .accuracy)
                [ "$ml" = "nengo reference" ] && [ "$T" != 30 ] && [ "$T" != 16 ] && continue
                j=$(row_at "$k" "$T" .loihi_joules)
                echo "| $ml | $mn | $T | $(awk -v a="$a" 'BEGIN{printf "%.2f", 100*a}') | $(diffp "$a" "$ann") | $(row_at "$k" "$T" .spikes_per_image | awk '{printf "%.4g", $1}') | $(awk -v a="$j" 'BEGIN{printf "%.4g", a}') | $(awk -v a="$j" -v b="$annj" 'BEGIN{printf "%.2f", a/b}') |"
            done
        done <"$tmp/$name-modes"
        echo "| **shipped default** | $(jq .n "$f") | $(num .mean_steps "$f") (mean) | $(pct .snn_accuracy "$f") | $(diffp "$(jq -r .snn_accuracy "$f")" "$ann") | $(num .spikes_per_image "$f") | $(num .energy.loihi.snn_joules "$f") | $(awk -v a="$(jq -r .energy.loihi.snn_joules "$f")" -v b="$annj" 'BEGIN{printf "%.2f", a/b}') |"
        echo
        echo "- shipped default: \`$(jq -r .conversion "$f")\`, $(jq -r .steps "$f") steps$(jq -r 'if .early_exit then ", early exit \(.early_exit)" else "" end' "$f" 2>/dev/null)"
        echo "- best modes: \`$base\`, scale $BEST_SCALE; binary modes: \`$bbase\`, scale 1 (at most one spike per step at the threshold)"
        echo
        echo "Commands:"
        echo
        cut -d'|' -f4 "$tmp/$name-modes" | sed 's/^/    /'
        echo "    snnctl eval $MODEL --dataset $DS --limit $LIMIT --json   # shipped default"
        echo
        if [ -f "$tmp/$name-sweep.json" ]; then
            echo "### Sweep of the nengo conversion ($SWEEP_N test images)"
            echo
            echo "    snnctl sweep $MODEL --dataset $DS --limit $SWEEP_N --steps 10,20,30,50,100 \\"
            echo "        --scale-firing-rates 5,20,50,100 --synapse none,0.001,0.005,0.01 --json \\"
            echo "        --neuron spiking-relu --v0 uniform:0 --normalize none --readout filtered"
            echo
            echo "| scale | synapse | steps | accuracy % | spikes/image | loihi J/image |"
            echo "|---:|---:|---:|---:|---:|---:|"
            jq -r '.rows[] | "| \(.scale_firing_rates) | \(if .synapse == 0 then "none" else .synapse end) | \(.steps) | \(.accuracy * 10000 | round / 100) | \(.spikes_per_image | round) | \(.loihi_joules) |"' "$tmp/$name-sweep.json"
            echo
        fi
    } >>"$tmp/body.md"
    best16=$(for k in srelu if8 if1 if1b; do [ -f "$tmp/$name-$k.json" ] && row_at "$k" 16 .accuracy; done | sort -g | tail -n 1)
    best8=$(for k in srelu if8 if1 if1b; do [ -f "$tmp/$name-$k.json" ] && row_at "$k" 8 .accuracy; done | sort -g | tail -n 1)
    bin16=$(for k in if1 if1b; do [ -f "$tmp/$name-$k.json" ] && row_at "$k" 16 .accuracy; done | sort -g | tail -n 1)
    bin8=$(for k in if1 if1b; do [ -f "$tmp/$name-$k.json" ] && row_at "$k" 8 .accuracy; done | sort -g | tail -n 1)
    dacc=$(jq -r .snn_accuracy "$f")
    dj=$(jq -r .energy.loihi.snn_joules "$f")
    verdict() { awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { d = 100 * (a - b); v = (d >= -m) ? "met" : "not met"; printf "%+.2f (%s)", d, v }'; }
    echo "| $name | $(verdict "$bin16" "$ann" 1) | $(verdict "$bin8" "$ann" 3) | $(verdict "$dacc" "$ann" 1) | $(awk -v a="$dj" -v b="$(jq -r .energy.loihi.ann_joules "$f")" 'BEGIN { v = (a < b) ? "met" : "not met"; printf "%.2f (%s)", a / b, v }') |" >>"$tmp/targets.md"
    echo "| $name | $(pct .ann_accuracy "$f") | $(awk -v a="$(row_at ref 30 .accuracy)" 'BEGIN{printf "%.2f", 100*a}') | $(awk -v a="$best16" 'BEGIN{printf "%.2f", 100*a}') | $(awk -v a="$best8" 'BEGIN{printf "%.2f", 100*a}') | $(pct .snn_accuracy "$f") @ $(num .mean_steps "$f") steps | $(awk -v a="$(jq -r .energy.loihi.snn_joules "$f")" -v b="$annj" 'BEGIN{printf "%.2f", a/b}') |" >>"$tmp/summary.md"
}

: >"$tmp/body.md"
: >"$tmp/summary.md"
: >"$tmp/targets.md"
only=${RESULTS_MODELS:-cifar10-seed fashion-mnist cifar10 cifar10-resnet cifar10-vgg}
for mdl in $only; do
    case $mdl in
    # binary rows of the plain-ReLU CIFAR models: thresholds at the 97th
    # percentile (at one spike per step a lower threshold gives the bulk of
    # the activations more resolution for clipping the top 3%; 99.9 loses
    # 8-26 points at 8 steps: tools/train/README.md, binary-rate regime)
    cifar10-seed) section models/cifar10-seed "$CIFAR" "cifar10-seed: the reference recipe" percentile:99.9 percentile:97 ;;
    fashion-mnist) section models/fashion-mnist "$FMNIST" "fashion-mnist" ;;
    cifar10) section models/cifar10 "$CIFAR" "cifar10: the shipped default" percentile:99.9 percentile:97 ;;
    cifar10-resnet) section models/cifar10-resnet "$CIFAR" "cifar10-resnet: residual (wide ResNet-8, QCFS-trained with a firing-rate penalty)" ceiling ;;
    cifar10-vgg) section models/cifar10-vgg "$CIFAR" "cifar10-vgg: BatchNorm and MaxPool (QCFS-trained)" ceiling ;;
    esac
done

for i in 0 19; do
    $S plot raster models/cifar10-seed "$CIFAR#$i" --layer conv1 -o "$FIG/seed-raster-conv1-$i.svg" >/dev/null
    $S plot raster models/cifar10-seed "$CIFAR#$i" --layer dense1 -o "$FIG/seed-raster-dense1-$i.svg" >/dev/null
    $S plot probs models/cifar10-seed "$CIFAR#$i" -o "$FIG/seed-probs-$i.svg" >/dev/null
    $S plot probs models/cifar10-seed "$CIFAR#$i" -o "$FIG/seed-probs-$i.png" >/dev/null
    $S plot raster models/cifar10-seed "$CIFAR#$i" --layer conv1 -o "$FIG/seed-raster-conv1-$i.png" >/dev/null
done

{
    echo "# Results"
    echo
    echo "Generated by \`RESULTS_SWEEP_LIMIT=$SWEEP_N RESULTS_GRAPH_LIMIT=$GRAPH_LIMIT make results\` (tools/results.sh) on $(date -u +%Y-%m-%d)."
    echo "Every mode runs on the first $LIMIT_ALL test images ($GRAPH_LIMIT for cifar10-resnet and cifar10-vgg,"
    echo "the --maxpool avg comparison on $EXTRA_LIMIT); nengo sweeps use the first"
    echo "$SWEEP_N test images. CIFAR-10 here is the JPEG-decoded copy in ../shared (scores run"
    echo "1-3 points below the original set). Energy: keras_spiking's device table with measured"
    echo "synaptic events (docs/nengo-semantics.md)."
    echo
    echo "| model | ANN % | nengo ref. 30 steps % | best 16 steps % | best 8 steps % | shipped default % | default energy / ANN (loihi) |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    cat "$tmp/summary.md"
    echo
    echo "The reference (blog) recipe scored 71.1% ANN and 61.7% SNN (scale 20, synapse 0.005 s,"
    echo "30 steps) on the original CIFAR-10. SpikingJelly's ann2snn in its recommended 99.9% mode"
    echo "scored about A-15 at 8 steps, A-5.5 at 16 and A-2.4 at 30 on a model of the same recipe"
    echo "(numbers reported in issue 5; SpikingJelly is not packaged for Debian and could not be run here)."
    echo
    echo "### Issue 12's targets (A = the model's ANN accuracy on the same images)"
    echo
    echo "Binary-rate regime: neuron if at one spike per step at the threshold (scale 1), the"
    echo "better of the binary rows with and without bias correction; target A-1 at 16 steps"
    echo "and A-3 at 8. Shipped default: at least A-1, and loihi energy below the ANN's."
    echo
    echo "| model | binary if, 16 steps | binary if, 8 steps | shipped default vs A | default energy / ANN (loihi) |"
    echo "|---|---:|---:|---:|---:|"
    cat "$tmp/targets.md"
    echo
    cat "$tmp/body.md"
    echo "## Figures (cifar10-seed, nengo reference conversion, test images 0 and 19)"
    echo
    for i in 0 19; do
        echo "![probabilities, test image $i](figures/seed-probs-$i.svg)"
        echo "![conv1 spike raster, test image $i](figures/seed-raster-conv1-$i.svg)"
        echo "![dense1 spike raster, test image $i](figures/seed-raster-dense1-$i.svg)"
        echo
    done
    echo "    snnctl plot probs models/cifar10-seed $CIFAR#19 -o docs/figures/seed-probs-19.svg"
    echo "    snnctl plot raster models/cifar10-seed $CIFAR#19 --layer conv1 -o docs/figures/seed-raster-conv1-19.svg"
} >"$OUT"
echo "results: wrote $OUT" >&2
# the README's copy of the headline table (only for the real docs/results.md)
if [ "$OUT" = docs/results.md ]; then tools/readme-results.sh "$OUT" README.md; fi
