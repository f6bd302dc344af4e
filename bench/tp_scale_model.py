#!/usr/bin/python3
"""A model of tensor-parallel speed across machines (docs/parallel.md), from measured single-machine
figures and stated network assumptions. Prints markdown tables of predicted decode and 512-token
prefill tokens/s for Qwen3-8B and -32B (q8) on 1, 2, 4 and 8 machines over 25 and 100 Gb/s Ethernet,
for our tensor parallelism and for a layer split like llama.cpp's RPC backend.

    /usr/bin/python3 bench/tp_scale_model.py --decode-gb-s 18.5 --prefill-gflop-s 160

Per decoded token (batch 1), each of N machines reads 1/N of the weights, then the ranks exchange
(2 L + 1) all-reduces of hidden floats (o_proj and down_proj of every layer, the embedding) and rank 0
gathers the logits (vocab / N floats from each rank). Our small-message all-reduce is an all-gather:
ceil(log2 N) rounds of latency plus (N - 1) * 4 * hidden bytes received. Prefill of P tokens is
compute-bound: 2 * params * P flops shared by N machines, plus the same all-reduces on P rows each,
by reduce-scatter + all-gather (2 (N - 1) / N * 4 * P * hidden bytes per rank, 2 (N - 1) latencies).

A layer split (llama.cpp RPC: each machine holds consecutive layers) runs the machines one after the
other for every token: the weights read per token do not shrink, and the activations cross N - 1
machine boundaries (one latency + 4 * hidden bytes each); it adds memory capacity, not speed.
"""
import argparse
import math

MODELS = {  # layers, hidden, vocab, parameters (Qwen3 model cards / config.json)
    "Qwen3-8B": (36, 4096, 151936, 8.19e9),
    "Qwen3-32B": (64, 5120, 151936, 32.8e9),
}
HEADS = {"Qwen3-8B": 32, "Qwen3-32B": 64}  # query heads: the most ranks tensor parallelism can use
NETWORKS = {  # bytes/s, one-way small-message latency in seconds (assumed: TCP over Ethernet)
    "25 Gb/s": (25e9 / 8, 25e-6),
    "100 Gb/s": (100e9 / 8, 10e-6),
}
Q8_BYTES_PER_PARAM = 34 / 32  # 32 int8 + an f16 scale per block


def decode_tok_s(model, n, net, decode_bw):
    layers, hidden, vocab, params = MODELS[model]
    bw, lat = NETWORKS[net]
    t_mem = params * Q8_BYTES_PER_PARAM / n / decode_bw
    if n == 1:
        return 1 / t_mem, 0.0
    allreduce = math.ceil(math.log2(n)) * lat + (n - 1) * 4 * hidden / bw
    gather = lat + 4 * vocab * (n - 1) / n / bw
    t_comm = (2 * layers + 1) * allreduce + gather + lat  # + the step broadcast
    return 1 / (t_mem + t_comm), t_comm


def prefill_tok_s(model, n, net, flops, prompt=512):
    layers, hidden, vocab, params = MODELS[model]
    bw, lat = NETWORKS[net]
    t_comp = 2 * params * prompt / n / flops
    if n == 1:
        return prompt / t_comp
    allreduce = 2 * (n - 1) * lat + 2 * (n - 1) / n * 4 * prompt * hidden / bw
    return prompt / (t_comp + (2 * layers + 1) * allreduce)


def layer_split_tok_s(model, n, net, decode_bw):
    layers, hidden, vocab, params = MODELS[model]
    bw, lat = NETWORKS[net]
    return 1 / (params * Q8_BYTES_PER_PARAM / decode_bw + (n - 1) * (lat + 4 * hidden / bw))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decode-gb-s", type=float, required=True, help="weights read per second in decode, one machine")
    ap.add_argument("--prefill-gflop-s", type=float, required=True, help="prefill flop rate, one machine")
    a = ap.parse_args()
    bw, fl = a.decode_gb_s * 1e9, a.prefill_gflop_s * 1e9
    for model in MODELS:
        print(f"\n**{model}, q8** (one machine: {a.decode_gb_s} GB/s decode reads, {a.prefill_gflop_s} GFLOP/s prefill)\n")
        print("| network | machines | decode tok/s (TP) | of which comm ms/token | prefill 512 tok/s (TP) | decode tok/s (layer split) |")
        print("|---|---|---|---|---|---|")
        for net in NETWORKS:
            for n in [1, 2, 4, 8]:
                d, c = decode_tok_s(model, n, net, bw)
                print(f"| {net} | {n} | {d:.2f} | {1e3 * c:.2f} | {prefill_tok_s(model, n, net, fl):.1f} | "
                      f"{layer_split_tok_s(model, n, net, bw):.2f} |")
        for net in NETWORKS:
            ns = [2 ** k for k in range(0, 9) if 2 ** k <= HEADS[model]]
            speeds = [decode_tok_s(model, n, net, bw)[0] for n in ns]
            best = ns[speeds.index(max(speeds))]
            limit = " (the most the heads allow)" if best == ns[-1] else ""
            print(f"\n{net}: decode peaks at {best} machines{limit} ({max(speeds):.1f} tok/s); "
                  f"going from 8 to 16 machines adds {100 * (decode_tok_s(model, 16, net, bw)[0] / speeds[3] - 1):.0f}%")


if __name__ == "__main__":
    main()
