"""Markdown and plot rendering of the ``perf.py`` results."""
from __future__ import annotations

from typing import Callable

from benchmarks.markdown import markdown_table
from benchmarks.portable_paths import portable

SECTIONS = (
    '## 1. Training step time',
    '## 2. Peak training memory',
    '## 3. Data pipeline throughput',
    '## 4. Inference latency',
    '## 5. Scaling with the number of resolutions',
    '## 6. Mixed precision on the CPU',
    '## 7. FLOPs per resolution',
    '## 8. torch.compile',
    '## 9. Multi-resolution views at ImageNet size: where the smaller views are made',
)


def ms(seconds: float) -> str:
    return f'{seconds * 1e3:.1f} ms'


def mib(kib: float) -> str:
    return f'{kib / 1024:.0f} MiB'


def gflops(flops: float) -> str:
    return f'{flops / 1e9:.2f}'


def verdict(value: float, ok: Callable[[float], bool]) -> str:
    return 'met' if ok(value) else '**missed**'


def training_section(results: list[dict]) -> list[str]:
    def kept(r: dict, key: str, fmt) -> str:  # results written before the kernels-kept variant existed
        return fmt(r[key]) if key in r else '-'

    rows = [[r['model'], r['batch'], ms(r['san']['median_s']), ms(r['shared']['median_s']), f"{r['ratio']:.3f}",
             f"{r['san']['min_s'] / r['shared']['min_s']:.3f}", f"{r['wall_ratio']:.3f}", '<= 1.05',
             verdict(r['ratio'], lambda v: v <= 1.05),
             kept(r, 'san_kept', lambda t: ms(t['median_s'])), kept(r, 'kept_ratio', lambda v: f'{v:.3f}'),
             kept(r, 'kept_ratio', lambda v: verdict(v, lambda x: x <= 1.05)),
             f"{gflops(r['step_flops']['meta'])} / {gflops(r['step_flops']['shared'])}"] for r in results]
    out = [SECTIONS[0], '',
           'Real `SANClassifier.train_step` (timm backbone via `TIMMBackbone`, GAP neck, `SANClsHead` with CE + '
           'all-pairs scale distillation), resolutions largest first, one backward per resolution, one SGD step '
           'through mmengine\'s `OptimWrapper`. Baseline: the same classifier converted with `convs=\'shared\'` '
           '(shared convolutions, private BN), same step. "kernels kept": the SAN built with '
           '`regenerate_kernels=False` (no kernel regeneration in the backward; more memory, figure 2). '
           'Steps of the models alternate (A, B, C, A, B, C...), '
           'medians over the timed rounds after warm-up. Step GFLOPs counted with `FlopCounterMode` '
           '(forward + backward, all resolutions).', '']
    out += markdown_table(['model', 'batch', 'SAN step', 'shared-conv step', 'ratio', 'ratio of minima',
                           'wall-clock ratio', 'target', 'result', 'SAN step, kernels kept', 'kept ratio',
                           'kept result', 'step GFLOPs SAN / shared'], rows)
    out += ['', 'Samples (s): ' + '; '.join(
        f"{r['model']} batch {r['batch']}: SAN {r['san']['samples_s']}, shared {r['shared']['samples_s']}"
        + (f", kept {r['san_kept']['samples_s']}" if 'san_kept' in r else '') for r in results), '']
    return out


def memory_section(results: list[dict], method: str) -> list[str]:
    rows = []
    for r in results:
        v = r['variants']
        rows.append([r['model'], r['batch'], mib(v['san']['step_kib']), mib(v['plain']['step_kib']),
                     f"{r['ratio']:.2f}", '<= 1.3', verdict(r['ratio'], lambda x: x <= 1.3),
                     mib(v['summed']['step_kib']), f"{r['summed_ratio']:.2f}",
                     mib(v['san_kept']['step_kib']) if 'san_kept' in v else '-',
                     f"{r['kept_ratio']:.2f}" if 'kept_ratio' in r else '-'])
    out = [SECTIONS[1], '', method, '']
    out += markdown_table(['model', 'batch', 'SAN step (per-res. backward)', 'plain step, largest res. alone', 'ratio',
                           'target', 'result', 'SAN, one backward of summed loss', 'summed ratio',
                           'SAN, kernels kept', 'kept ratio'], rows)
    out += ['', 'Resident sizes before the step (model + optimizer state + runtime), peak during it:', '']
    detail = [[r['model'], name, mib(v['baseline_kib']), mib(v['peak_kib']), mib(v['step_kib']),
               f"{v['params'] / 1e6:.2f} M"] for r in results for name, v in r['variants'].items()]
    out += markdown_table(['model', 'variant', 'RSS before', 'peak RSS', 'peak above before', 'parameters'], detail)
    return out + ['']


def data_section(result: dict) -> list[str]:
    out = [SECTIONS[2], '']
    if 'skipped' in result:
        return out + [f"Not measured: {result['skipped']}.", '']
    loaders, prep, comb = result['loaders'], result['preprocessor'], result['combined']
    std = loaders['standard']['images_per_s']
    out += [f"`{portable(result['data_root'])}` (`train/`), first {result['images']} images, mmpretrain `CustomDataset` + "
            f"torch `DataLoader` (batch {result['batch']}, num_workers={result['workers']}, mmengine "
            f"`default_collate`, persistent workers); each pipeline passes over the images "
            f"{result['repeats']} times after one untimed pass, pipelines alternating; median. "
            'All resize with pillow bicubic. Preprocessor: `SANDataPreprocessor` on one collated batch in the '
            f"main process ({result['threads']} threads): normalisation (+ the on-device resize for "
            '`largest_only`). "Loader + preprocessor" = 1 / (1/loader rate + preprocessor s/image).', '']
    names = {'standard': 'RandomResizedCrop(128) + RandomFlip (1 view)',
             'multi': 'MultiResolution (5 views, each from the crop)',
             'multi_from_largest': "MultiResolution(views_from='largest') (5 views)",
             'largest_only': 'MultiResolution(largest_only) + on-device resize'}
    rows = [[names.get(n, n), f"{loaders[n]['images_per_s']:.0f}", f"{loaders[n]['images_per_s'] / std:.2f}",
             f"{prep[n]['seconds_per_image'] * 1e3:.3f}", f"{comb[n]:.0f}", f"{comb[n] / comb['standard']:.2f}"]
            for n in loaders]
    out += markdown_table(['pipeline', 'loader images/s', 'ratio to standard', 'preprocessor ms/image',
                           'loader + preprocessor images/s', 'ratio to standard'], rows)
    ratio = loaders['multi']['images_per_s'] / std
    cascade = loaders['multi_from_largest']['images_per_s'] / std if 'multi_from_largest' in loaders else float('nan')
    dev = comb['largest_only'] / comb['standard']
    out += ['', f"MultiResolution / standard (loader): **{ratio:.2f}**, target >= 0.75: "
                f"{verdict(ratio, lambda v: v >= 0.75)}. views_from='largest' / standard (loader): "
                f"**{cascade:.2f}** ({verdict(cascade, lambda v: v >= 0.75)}). "
                "On-device path (loader + preprocessor) / standard: "
                f"**{dev:.2f}** ({verdict(dev, lambda v: v >= 0.75)}).",
            '', 'Samples (images/s): ' + '; '.join(f"{n}: {loaders[n]['samples']}" for n in loaders), '']
    return out


def latency_section(results: list[dict]) -> list[str]:
    out = [SECTIONS[3], '',
           'Eval mode, `torch.no_grad()`, random input. original = `timm.create_model(name)`; SAN = '
           '`convert(original, resolutions, init=\'pretrained\')` in eval mode (kernels generated once and '
           'cached); baked = `bake(SAN, S)`. The three models alternate; each sample is the mean of `inner` '
           'calls; medians.', '']
    rows = []
    for r in results:
        for batch, b in r['batches'].items():
            rows.append([r['model'], r['resolution'], batch, ms(b['original']['median_s']),
                         ms(b['baked']['median_s']), f"{b['baked_ratio']:.3f}",
                         f"{b['baked']['min_s'] / b['original']['min_s']:.3f}", f"{b['baked_wall_ratio']:.3f}",
                         verdict(b['baked_ratio'], lambda v: 0.97 <= v <= 1.03), ms(b['san']['median_s']),
                         f"{b['san_ratio']:.3f}", f"{b['san']['min_s'] / b['original']['min_s']:.3f}",
                         f"{b['san_wall_ratio']:.3f}",
                         verdict(b['san_ratio'], lambda v: v <= 1.05)])
    out += markdown_table(['model', 'res.', 'batch', 'original', 'baked', 'baked / original (0.97..1.03)', 'of minima',
                           'wall-clock', 'result', 'SAN eval', 'SAN / original (<= 1.05)', 'of minima', 'wall-clock',
                           'result'], rows)
    return out + ['']


def scaling_section(result: dict, plot_name: str) -> list[str]:
    out = [SECTIONS[4], '',
           f"{result['model']}, batch {result['batch']}: a SAN trained on the k largest of "
           f"{result['resolutions']} (one model per k, steps alternating over k). Expected step time = "
           'step time at k=1 x (sum of forward FLOPs of the k resolutions / FLOPs at the largest). Peak memory '
           f"(batch {result.get('memory_batch', result['batch'])}): peak RSS above the resident size before the "
           'step, as in figure 2 (expected flat).', '']
    rows = []
    base_t = result['times'][1]['median_s']
    base_f = result['flops'][1]
    base_m = result['memory'][1]['step_kib'] if result.get('memory') else None
    for k in sorted(result['times']):
        t, f = result['times'][k]['median_s'], result['flops'][k]
        mem = result['memory'].get(k) if result.get('memory') else None
        rows.append([k, gflops(f), ms(t), ms(base_t * f / base_f), f"{t / (base_t * f / base_f):.2f}",
                     mib(mem['step_kib']) if mem else '-', f"{mem['step_kib'] / base_m:.2f}" if mem else '-'])
    out += markdown_table(['k', 'sum fwd GFLOPs (batch 1)', 'step time', 'FLOPs-proportional', 'measured / expected',
                           'peak above before', 'memory / k=1'], rows)
    return out + ['', f'![scaling]({plot_name})', '']


def amp_section(results: list[dict], cpu_flags: str) -> list[str]:
    out = [SECTIONS[5], '', f'CPU bf16 support: {cpu_flags}. SAN `train_step` with `CPUAmpOptimWrapper` '
           '(`torch.autocast(\'cpu\', dtype=torch.bfloat16)`, fp32 parameters and optimizer, no loss scaling) vs '
           'the same model and optimizer with `OptimWrapper` (fp32); steps alternate; medians.', '']
    rows = [[r['model'], r['batch'], ms(r['fp32']['median_s']), ms(r['bf16']['median_s']), f"{r['ratio']:.3f}",
             f"{r['bf16']['min_s'] / r['fp32']['min_s']:.3f}", f"{r['wall_ratio']:.3f}", '<= 0.65',
             verdict(r['ratio'], lambda v: v <= 0.65)] for r in results]
    out += markdown_table(['model', 'batch', 'fp32 step', 'bf16 autocast step', 'ratio', 'ratio of minima',
                           'wall-clock ratio', 'target', 'result'], rows)
    out += ['', 'Samples (s): ' + '; '.join(f"{r['model']}: fp32 {r['fp32']['samples_s']}, bf16 "
                                            f"{r['bf16']['samples_s']}" for r in results)]
    out += ['', 'Demo accuracy with bf16 vs fp32 (within 0.5 point): not run in this benchmark (it needs two '
                'demo trainings).', '']
    return out


def flops_section(results: list[dict], steps: dict[str, dict]) -> list[str]:
    out = [SECTIONS[6], '', 'Forward GFLOPs at batch 1 (`FlopCounterMode`; a multiply-add = 2 FLOPs), eval '
           'mode. The SAN runs with its cached kernels; kernel generation (one add per conv, not a counted op) '
           'is not included. Training-step GFLOPs (all resolutions, forward + backward) and step time are from '
           'figure 1.', '']
    rows = []
    for r in results:
        for s, row in r['rows'].items():
            rows.append([r['model'], s, gflops(row['original']), gflops(row['san']), gflops(row['baked'])])
    out += markdown_table(['model', 'res.', 'original', 'converted (SAN)', 'baked'], rows)
    if steps:
        out += ['']
        out += markdown_table(['model', 'batch', 'SAN step GFLOPs', 'SAN step time', 'GFLOP/s'],
                              [[m, s['batch'], gflops(s['step_flops']['meta']), ms(s['san']['median_s']),
                                f"{s['step_flops']['meta'] / s['san']['median_s'] / 1e9:.1f}"]
                               for m, s in steps.items()])
    return out + ['']


def plot_scaling(result: dict, path: str) -> None:
    """Step time (measured and FLOPs-proportional) and peak memory against k."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ks = sorted(result['times'])
    times = [result['times'][k]['median_s'] for k in ks]
    expected = [times[0] * result['flops'][k] / result['flops'][1] for k in ks]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(ks, times, 'o-', label='measured')
    a.plot(ks, expected, 's--', label='FLOPs-proportional')
    a.set_xlabel('number of resolutions k')
    a.set_ylabel('step time (s)')
    a.set_title(f"{result['model']} step time, batch {result['batch']}")
    a.legend()
    if result.get('memory'):
        b.plot(ks, [result['memory'][k]['step_kib'] / 1024 for k in ks], 'o-')
    b.set_xlabel('number of resolutions k')
    b.set_ylabel('peak RSS above before (MiB)')
    b.set_ylim(bottom=0)
    b.set_title(f"peak training memory, batch {result.get('memory_batch', result['batch'])}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compile_section(results: list[dict]) -> list[str]:
    out = [SECTIONS[7], '']
    if not results:
        return out + ['Not run (`--compile-models` was empty).', '']
    out += ['SAN `train_step` with the classifier wrapped in `torch.compile` (passed as `train_step`\'s '
            '`forward`: the forwards are compiled, with their backward; the resolution loop and the optimizer '
            'stay eager) vs the same SAN eager; same init, own SGD optimizers; steps alternate after the first '
            'compiled step, which compiles and is timed apart. Graphs and graph breaks: dynamo\'s counters.', '']
    rows = [[r['model'], r['batch'], r['backend'], f"{r['compile_s']:.1f} s", ms(r['eager']['median_s']),
             ms(r['compiled']['median_s']), f"{r['ratio']:.3f}", f"{r['wall_ratio']:.3f}", r['graphs'],
             r['graph_breaks']] for r in results]
    out += markdown_table(['model', 'batch', 'backend', 'first step (compiling)', 'eager step', 'compiled step',
                           'ratio', 'wall-clock ratio', 'graphs', 'graph breaks'], rows)
    return out + ['']


VIEW_MODES = {
    'standard': 'RandomResizedCrop + RandomFlip (1 view, the yardstick)',
    'crop': "MultiResolution(views_from='crop'): every view from the crop, pillow",
    'largest': "MultiResolution(views_from='largest'): smaller views from the largest, OpenCV",
    'device': 'MultiResolution(largest_only=True) + SANDataPreprocessor(resize_on_device=True)',
}
VIEWS_TARGET = 0.9


def _mode_rows(result: dict) -> list[list]:
    def ratio(row: dict, key: str) -> str:
        return f'{row[key]:.2f}' if key in row else '-'

    rows = []
    for name, row in result['modes'].items():
        loader, e2e = row['loader'], row['end_to_end']
        rows.append([VIEW_MODES.get(name, name), f"{loader['images_per_s']:.0f}", f"**{loader['ratio']:.2f}**",
                     ratio(loader, 'ratio_of_medians'), f"{loader['cpu_ms_per_image']:.2f}",
                     ratio(loader, 'cpu_ratio'), f"{e2e['images_per_s']:.0f}", f"{e2e['ratio']:.2f}",
                     f"{e2e['cpu_ms_per_image']:.2f}", ratio(e2e, 'cpu_ratio'),
                     f"{result['h2d_bytes_per_sample'][name]:,.0f}",
                     f"{result['preprocessor_ms_per_image'][name]:.3f}"])
    return rows


MODE_HEADER = ['mode', 'loader images/s', 'loader / standard', 'ratio of medians', 'loader CPU ms/image',
               'CPU / standard', 'loader + preprocessor images/s', '/ standard', 'loader + preprocessor CPU ms/image',
               'CPU / standard', 'H2D bytes/sample', 'preprocessor ms/image (CPU)']


def views_section(result: dict | None) -> list[str]:
    """Figure 9 (``perf_views.py``)."""
    out = [SECTIONS[8], '']
    if not result:
        return out + ['Not measured in this run (`python benchmarks/perf.py --only views` adds it).', '']
    net = result['imagenet']
    meta = result.get('measured')
    if meta:
        out += [f"Measured {meta['started']} by `{portable(meta['command'])}`; load average start "
                f"{tuple(round(x, 2) for x in meta['load_start'])}, end {tuple(round(x, 2) for x in meta['load_end'])}"
                f"; other busy processes at the start: {portable('; '.join(meta['busy_start'])) or 'none'}.", '']
    w, h = result['image_size']
    out += [f"{net['images']} generated photo-like JPEGs of {w}x{h} px (quality 90, {result['jpeg_kib']:.0f} KiB on "
            f"average; ImageNet's JPEGs are larger on average, so decoding weighs more there), written by the "
            f"benchmark to a temporary folder. Resolutions "
            f"{net['resolutions']}, RandomResizedCrop area {tuple(net['crop_ratio_range'])}. "
            f"mmpretrain `CustomDataset` + torch `DataLoader` (batch {net['batch']}, num_workers={net['workers']}, "
            f"mmengine `default_collate`, persistent workers). The four loaders alternate, one pass each per round, "
            f"{net['repeats']} rounds after one untimed pass (then the same for the loader + preprocessor runs). "
            "Ratios to standard: the median over rounds of a pass's throughput over the standard loader's pass "
            "of the same round (\"ratio of medians\": of the median throughputs). \"loader\" = iterating the "
            "loader alone (the workers' throughput). \"loader + preprocessor\" = the same loop with the mode's "
            f"`SANDataPreprocessor` applied to every batch in the main process, here on the CPU ({result['threads']} "
            "torch thread(s)): it includes the on-device resize of the `device` mode, run on the CPU. CPU ms/image = "
            "CPU time of the main process and the workers (from /proc) per image (the workers are CPU-bound, so on an "
            "idle machine a loader's throughput at fixed workers goes as 1 / its CPU time per image; CPU time is "
            "far less disturbed by the other processes than throughput). H2D bytes/sample = the image bytes "
            "the preprocessor hands to `cast_data` (what crosses to a GPU), measured on one batch.", '']
    out += markdown_table(MODE_HEADER, _mode_rows(net))
    dev = net['modes']['device']['loader']['ratio']
    out += ['', f"On-device views, loader / single-view loader: **{dev:.2f}** (target >= {VIEWS_TARGET}: "
                f"{verdict(dev, lambda v: v >= VIEWS_TARGET)}).", '']
    prep = net['preprocessor_ms_per_image']
    extra = [[k, f'{v:.3f}'] for k, v in prep.items() if '/' in k]
    if extra:
        out += ['The `device` preprocessor alone on one batch (CPU time per image): '
                f"uint8 input as the loader gives it, {prep['device']:.3f} ms (the CPU path: resize in uint8, then "
                f"normalise each view); float input, {prep.get('device/float_path', float('nan')):.3f} ms (the path a "
                'GPU takes: normalise the largest view, resize in float32; its GPU cost was not measured here, this '
                f"machine has no GPU); `pseudo_collate` layout, {prep.get('device/pseudo_collate', float('nan')):.3f} "
                "ms (the views stacked in the main process). The single-view normalisation: "
                f"{prep['standard']:.3f} ms.", '']
    pix = result['pixels']
    out += [f"Pixels: mean absolute difference (0..255) of the views against views resized from the same crop "
            f"with PIL, per resolution, {pix['images']} images, crop area {tuple(pix['crop_ratio_range'])}, no flip. "
            "PIL bicubic from the crop = `views_from='crop'`; PIL bilinear from the crop = the official code. The "
            "device views are de-normalised; the GPU path's are not rounded to integers (a uniform rounding error "
            "alone would add about 0.25).", '']
    keys = [('device_float', 'crop_bicubic'), ('device_float', 'crop_bilinear'), ('device_uint8', 'crop_bicubic'),
            ('device_uint8', 'crop_bilinear'), ('largest', 'crop_bicubic'), ('largest', 'crop_bilinear'),
            ('crop_bilinear', 'crop_bicubic')]
    names = {'device_float': 'device (GPU float path)', 'device_uint8': 'device (CPU uint8 path)',
             'largest': "views_from='largest'", 'crop_bilinear': 'PIL bilinear from crop',
             'crop_bicubic': 'PIL bicubic from crop'}
    header = ['res.'] + [f'{names[a]} vs {names[b]}' for a, b in keys]
    rows = [[s] + [f"{row[f'{a}_vs_{b}']:.2f}" for a, b in keys] for s, row in pix['mad'].items()]
    out += markdown_table(header, rows) + ['']
    out += ['CPU scale (the settings of `configs/imagenette` and `configs/demo`, same workers, the preprocessor on '
            'the CPU as in a CPU training):', '']
    for r in result['cpu_scale']:
        if 'skipped' in r:
            out += [f"- {r['name']}: not measured ({r['skipped']}).", '']
            continue
        out += [f"{r['name']}: `{portable(r['data_root'])}` ({r['jpeg_kib']:.0f} KiB per JPEG), {r['images']} images, "
                f"resolutions {r['resolutions']}, crop area {tuple(r['crop_ratio_range'])}, batch {r['batch']}:", '']
        out += markdown_table(MODE_HEADER, _mode_rows(r)) + ['']
    samples = [f"{name}: loader {row['loader']['samples_images_per_s']}, + preprocessor "
               f"{row['end_to_end']['samples_images_per_s']}" for name, row in net['modes'].items()]
    return out + ['Samples, ImageNet size (images/s): ' + '; '.join(samples), '']
