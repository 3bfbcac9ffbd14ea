#!/bin/sh
# mkcorpus.sh: (re)build the seed corpora in tests/fuzz/corpus/ from the
# repository's fixtures (tests/data, models/fashion-mnist, config/snnd.json,
# the ONNX backend test models of libonnx-testdata for the ops we import)
# plus a few hand-written hostile inputs. The corpora are committed; run
# this only to regenerate them. JPEG seeds come from tests/fuzz/jpeg/*.jpg
# (8x8 gray, 12x10 RGB, 28x28 progressive, a truncated one).
set -eu
cd "$(dirname "$0")/../.."
C=tests/fuzz/corpus
IMG=tests/data/images
S=tests/fuzz/jpeg
rm -rf "$C"
mkdir -p "$C"

# --- fuzz_image: first byte selects the wanted channels (0: keep, 1, 3)
d=$C/fuzz_image; mkdir -p "$d"
i=0
for f in "$IMG"/*.png "$S"/*.jpg; do
    sel=$((i % 3)); i=$((i + 1))
    { printf "\\00$sel"; cat "$f"; } >"$d/$(basename "$f")"
done

# --- fuzz_onnx: our models, backend-test models of the ops we support, hostile cuts
d=$C/fuzz_onnx; mkdir -p "$d"
cp tests/data/tiny/model.onnx "$d/tiny.onnx"
cp tests/data/tiny-nhwc/model.onnx "$d/tiny-nhwc.onnx"
head -c 3000 tests/data/tiny/model.onnx >"$d/tiny-truncated.onnx"
ND=/usr/share/libonnx-testdata/data/node
for t in test_basic_conv_with_padding test_conv_with_strides_padding test_gemm_default_matrix_bias \
         test_gemm_transposeB test_matmul_2d test_add_bcast test_mul_bcast test_relu test_clip \
         test_averagepool_2d_pads test_maxpool_2d_default test_globalaveragepool test_flatten_axis1 \
         test_reshape_reordered_all_dims test_transpose_default test_softmax_axis_1 \
         test_batchnorm_example test_constant_pad test_dropout_default test_identity \
         test_shape test_gather_0 test_unsqueeze_axis_0 test_concat_2d_axis_0; do
    [ -f "$ND/$t/model.onnx" ] && cp "$ND/$t/model.onnx" "$d/$t.onnx"
done

# --- fuzz_model_config
d=$C/fuzz_model_config; mkdir -p "$d"
cp tests/data/tiny/config.json "$d/tiny.json"
cp tests/data/tiny-nhwc/config.json "$d/tiny-nhwc.json"
cp models/fashion-mnist/config.json "$d/fashion-mnist.json"
printf '{"name":"x","classes":["a","b"],"input":{"channels":9,"height":-1,"width":100000000}}' >"$d/bad-input.json"
printf '{"name":"x","conversion":{"scale_firing_rates":"1,a=2,b=3,c=4","v0":"uniform:18446744073709551615","thresholds":{"conv1":1e39}}}' >"$d/bad-conv.json"
printf '{"name":"%s"}' "$(head -c 300 /dev/zero | tr '\0' n)" >"$d/long-name.json"
printf '{"name":"x","input":{"mean":[1,2,3,4,5],"std":[0,0,0]},"steps":0,"max_steps":-5,"early_exit":{"patience":-1}}' >"$d/bad-norm.json"
printf '%s' "$(head -c 200 /dev/zero | tr '\0' '[')" >"$d/deep.json"

# --- fuzz_convert_params: key=value lines
d=$C/fuzz_convert_params; mkdir -p "$d"
printf 'neuron=spiking-relu\ndt=0.001\nsynapse=0.005\nscale_firing_rates=20\nv0=zero\nnormalize=none\nreadout=filtered\n' >"$d/defaults"
printf 'scale_firing_rates=20,conv1=10,conv2=5\nv0=uniform:7\nnormalize=percentile:99.9\nmax-pool=avg\n' >"$d/layers"
printf 'synapse=none\nneuron=relu\nreadout=mean\nv0=half\nnormalize=max\n' >"$d/alt"
printf 'dt=0\nsynapse=-1\nscale_firing_rates=nan\nv0=uniform:\nnormalize=percentile:101\n' >"$d/bad"
printf 'scale_firing_rates=%s\n' "$(i=0; while [ $i -lt 40 ]; do printf 'l%d=1,' $i; i=$((i+1)); done)" >"$d/many-layers"

# --- daemon bodies
PNG=$IMG/gray8.png
B64=$(base64 -w0 "$PNG")
B64J=$(base64 -w0 "$S/rgb12.jpg")
d=$C/fuzz_classify_json; mkdir -p "$d"
printf '{"image":"%s"}' "$B64" >"$d/image.json"
printf '{"images":["%s","data:image/jpeg;base64,%s"],"steps":5,"top_k":3}' "$B64" "$B64J" >"$d/images.json"
printf '{"pixels":[[0,1,2],[3,4,255]],"steps":"4","spike_stats":true,"energy":["loihi"]}' >"$d/pixels2d.json"
printf '{"pixels":[[[[0],[1]],[[2],[3]]]],"shape":[1,2,2,1],"raster":{"layer":"conv1","neurons":8}}' >"$d/pixels4d.json"
printf '{"tensor":[%s0],"shape":[1,28,28],"synapse":0.01,"scale_firing_rates":"20,conv1=5","early_exit":{"patience":3,"min_prob":0.5}}' \
    "$(i=0; while [ $i -lt 783 ]; do printf '0.5,'; i=$((i+1)); done)" >"$d/tensor.json"
printf '{"image":"%s","raster":"dense1:4","energy":"all","v0":"uniform:3","neuron":"relu","readout":"mean","dt":0.002}' "$B64" >"$d/options.json"
printf '{"image":"!!!","images":[]}' >"$d/bad-both.json"
printf '{"pixels":[[1,2],[3]]}' >"$d/ragged.json"
printf '{"a":%s1%s}' "$(head -c 40 /dev/zero | tr '\0' '[')" "$(head -c 40 /dev/zero | tr '\0' ']')" >"$d/deep.json"
printf '{"pixels":[[1e39]],"steps":1000000000}' >"$d/big-values.json"

d=$C/fuzz_classify_body; mkdir -p "$d"
{ printf 'image/png\n'; cat "$PNG"; } >"$d/png"
{ printf 'image/jpeg\n'; cat "$S/gray8.jpg"; } >"$d/jpeg"
{ printf '\n'; cat "$IMG/rgb8.png"; } >"$d/sniffed"
{ printf 'application/octet-stream\n'; cat "$IMG/bomb_60000.png"; } >"$d/bomb"
{ printf 'application/json; charset=utf-8\n'; cat "$C/fuzz_classify_json/images.json"; } >"$d/json"
{ printf 'multipart/form-data; boundary="q"\n--q\r\nContent-Disposition: form-data; name="steps"\r\n\r\n7\r\n--q\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'; cat "$PNG"; printf '\r\n--q--\r\n'; } >"$d/multipart"
printf 'text/plain\nhello' >"$d/unsupported"

d=$C/fuzz_multipart; mkdir -p "$d"
{ printf -- '--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'; cat "$PNG"; printf '\r\n--XyZ--\r\n'; } >"$d/one"
{ printf -- '--XyZ\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n2\r\n--XyZ\r\ncontent-disposition: form-data; name=images\r\n\r\n'; cat "$PNG"; printf '\r\n--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\n'; cat "$S/gray8.jpg"; printf '\r\n--XyZ--'; } >"$d/two"
printf 'preamble\r\n--XyZ\r\nContent-Disposition: form-data; name="image"\r\n\r\nnot an image\r\n--XyZ--\r\n' >"$d/preamble"
printf -- '--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n' >"$d/noname"
printf -- '--XyZ\r\nContent-Disposition: form-data; name="image"\r\n\r\nunterminated' >"$d/unterminated"

d=$C/fuzz_v2_infer; mkdir -p "$d"
# byte 0 even (a space): the rest is a JSON body; odd ('a'): two bytes of
# Inference-Header-Content-Length (little-endian), then JSON + binary data
printf ' {"id":"r1","inputs":[{"name":"image","shape":[1,28,28,1],"datatype":"UINT8","data":[%s0]}],"outputs":[{"name":"probabilities","parameters":{"classification":3}}]}' \
    "$(i=0; while [ $i -lt 783 ]; do printf '64,'; i=$((i+1)); done)" >"$d/pixels.json"
printf ' {"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[%s0]}],"parameters":{"steps":5,"binary_data_output":false}}' \
    "$(i=0; while [ $i -lt 783 ]; do printf '0.25,'; i=$((i+1)); done)" >"$d/tensor.json"
printf ' {"inputs":[{"name":"image","shape":[1,2,2,1],"datatype":"UINT8","data":[[[[1],[2]],[[3],[4]]]]}],"outputs":[{"name":"probabilities"}]}' >"$d/nested.json"
printf ' {"inputs":[{"name":"image","shape":[1,2],"datatype":"BYTES","data":["a"]}]}' >"$d/bytes.json"
printf ' {"inputs":[],"outputs":{}}' >"$d/empty.json"
j='{"inputs":[{"name":"image","shape":[1,28,28,1],"datatype":"UINT8","parameters":{"binary_data_size":784}}],"outputs":[{"name":"probabilities","parameters":{"binary_data":true}},{"name":"steps"}]}'
n=${#j}
{ printf 'a'; printf "\\$(printf '%03o' $((n % 256)))\\$(printf '%03o' $((n / 256)))"; printf '%s' "$j"
  head -c 784 /dev/zero | tr '\0' '\200'; } >"$d/binary"

d=$C/fuzz_query; mkdir -p "$d"
printf 'steps=10&top_k=3' >"$d/basic"
printf 'spike_stats=true&raster=conv1:16&energy=loihi,spinnaker' >"$d/stats"
printf 'synapse=0.01&scale_firing_rates=20%%2Cconv1%%3D5&v0=uniform%%3A3&patience=4&min_prob=0.5&min_margin=0.1&min_steps=2' >"$d/overrides"
printf 'stream&raster_neurons=100000&steps=-1&top_k=abc' >"$d/bad"
printf 'raster=nosuchlayer&energy=all&neuron=relu&readout=mean&dt=0.5&normalize=max' >"$d/misc"

d=$C/fuzz_daemon_config; mkdir -p "$d"
cp config/snnd.json "$d/snnd.json"
printf '{"port":"99999","workers":-1,"log_level":"loud","energy_device":"gpu","unknown":1}' >"$d/bad.json"
printf '{"max-batch":4,"max_queue_delay_ms":true,"admin-token":"s3cret","host":null}' >"$d/mixed.json"
printf '[1,2,3]' >"$d/array.json"
printf '{"port":8080,"port":8081}' >"$d/dup.json"
echo "mkcorpus: $(find "$C" -type f | wc -l) seeds, $(du -sk "$C" | cut -f1) KiB" >&2

# --- fuzz_dataset: "KIND OFFSET LIMIT", then "=====NAME" lines each
# followed by that file's bytes (see fuzz_dataset.c)
d=$C/fuzz_dataset; mkdir -p "$d"
rec() { printf "\\$(printf '%03o' "$1")"; head -c 3072 /dev/zero | tr '\0' "\\$(printf '%03o' "$2")"; }
meta="airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
{ printf 'cifar10 0 0\n=====test_batch.bin\n'; rec 3 17; rec 9 200; printf "\n=====batches.meta.txt\n$meta"; } >"$d/cifar-2.bin"
{ printf 'cifar10 1 2\n=====test_batch.bin\n'; rec 0 1; rec 1 2; rec 2 3; } >"$d/cifar-window.bin"
{ printf 'cifar10 0 0\n=====test_batch.bin\n'; rec 10 0; } >"$d/cifar-bad-label.bin"
{ printf 'cifar10 0 0\n=====test_batch.bin\n'; rec 1 0 | head -c 3000; } >"$d/cifar-short.bin"
{ printf 'cifar10 0 0\n=====test_batch.bin\n'; rec 1 0; printf '\n=====batches.meta.txt\na\nb\n'; } >"$d/cifar-bad-meta.bin"
idx() { printf "\\000\\000\\010\\$(printf '%03o' "$1")"; shift; for v in "$@"; do printf "\\000\\000\\$(printf '%03o' $((v / 256)))\\$(printf '%03o' $((v % 256)))"; done; }
{ printf 'fashion-mnist 0 0\n=====t10k-images-idx3-ubyte\n'; idx 3 2 4 4; head -c 32 /dev/urandom | tr '\n=' 'ab';
  printf '\n=====t10k-labels-idx1-ubyte\n'; idx 1 2; printf '\001\007'; } >"$d/idx-2.bin"
{ printf 'fashion-mnist 0 0\n=====t10k-images-idx3-ubyte\n'; idx 3 2 4 4; head -c 32 /dev/zero;
  printf '\n=====t10k-labels-idx1-ubyte\n'; idx 1 3; printf '\001\007\002'; } >"$d/idx-count-mismatch.bin"
{ printf 'fashion-mnist 0 0\n=====t10k-images-idx3-ubyte\n'; idx 3 1 5000 4;
  printf '\n=====t10k-labels-idx1-ubyte\n'; idx 1 1; printf '\001'; } >"$d/idx-side-too-big.bin"
{ printf 'fashion-mnist 0 0\n=====t10k-images-idx3-ubyte.gz\n'; { idx 3 1 2 2; printf '\001\002\003\004'; } | gzip -9n;
  printf '\n=====t10k-labels-idx1-ubyte\n'; idx 1 1; printf '\003'; } >"$d/idx-gz.bin"
F=$IMG/folder
{ printf 'folder 0 0\n'; for f in 0_cat/a.png 0_cat/b.png 1_dog/c.png; do printf '=====%s\n' "$f"; cat "$F/$f"; printf '\n'; done; } >"$d/folder-2-classes.bin"
{ printf 'folder 0 0\n=====0_a/x.png\n'; cat "$IMG/gray8.png"; printf '\n=====1_b/y.png\n'; cat "$IMG/graya16_interlaced.png"; printf '\n=====1_b/z.png\nnot a png\n'; } >"$d/folder-bad-image.bin"

# --- fuzz_http: raw requests on a connection (see fuzz_http.c)
d=$C/fuzz_http; mkdir -p "$d"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >"$d/get-healthz.http"
printf 'GET /v2/models/x/ready HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$d/pipelined.http"
printf 'POST /classify?steps=3&timeout_ms=100 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ima\r\n7\r\nge":"x"\r\n1\r\n}\r\n0\r\n\r\n' >"$d/post-chunked.http"
printf 'POST /v1/models/m/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\nabc' >"$d/body-too-large.http"
printf 'POST /v1/admin/resume?chunks=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nPOST /v1/admin/pause HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/admin/scheduler HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1/admin/resume HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$d/admin.http"
printf 'DELETE /v2/models/%%2e%%2e/infer HTTP/1.0\r\n\r\n' >"$d/bad-method.http"
printf 'POST /v1/jobs?model=nope HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 61\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name="steps"\r\n\r\n3\r\n--XyZ--' >"$d/multipart.http"
printf 'GARBAGE\r\n\r\n' >"$d/garbage.http"
printf 'GET /v1/jobs/0123456789abcdef/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 3\r\n\r\n' >"$d/job-events.http"
