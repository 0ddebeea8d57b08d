"""Renders the CUDA benchmark's JSON as markdown: the machine, the commands, a summary, each section."""
from __future__ import annotations

from benchmarks.gpu.cuda_sections import TARGETS


def _f(value, digits: int = 3) -> str:
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def _scale(value) -> str:
    return '-' if value is None else f'{value:g}'


def _met(flag, dry: bool) -> str:
    """'met' / 'missed' for a GPU figure; '-' where there is no target or the run was the CPU dry run."""
    if flag is None or dry:
        return '-'
    return 'met' if flag else '**missed**'


def header(meta: dict) -> list[str]:
    dry = meta['device'] != 'cuda'
    title = ('# CUDA benchmark: DRY RUN ON THE CPU (no figure here is a GPU figure)' if dry else
             f'# CUDA performance on {meta["gpu"]}')
    lines = [title, '']
    lines += [f'- GPU: {meta["gpu"]}' + (f', driver {meta["driver"]}' if meta.get('driver') else '')
              + (f', {meta["gpu_memory_gib"]:.0f} GiB' if meta.get('gpu_memory_gib') else ''),
              f'- CPU cores: {meta["cpu_count"]}; Python {meta["python"]}',
              f'- torch {meta["torch"]} (CUDA {meta["cuda"]}, cuDNN {meta["cudnn"]}), torchvision {meta["torchvision"]}, '
              f'timm {meta["timm"]}, mmengine {meta["mmengine"]}, mmpretrain {meta["mmpretrain"]}',
              f'- `cudnn.benchmark={meta["cudnn_benchmark"]}`; TF32 matmul {meta["tf32"]}',
              f'- timing: {meta["clock"]}',
              '- commands (repository root):']
    lines += [f'  - `{command}` ({when})' for command, when in meta['commands']]
    return lines + ['']


def summary(results: dict) -> list[str]:
    s = results['settings']
    dry = results['meta']['device'] != 'cuda'

    def met(flag) -> str:
        return _met(flag, dry)

    rows = []
    flops = results.get('flops')
    ratio = flops['ratio'] if flops else None
    for train in results.get('train', []):
        b = train['batch']
        rows.append((f'training images/s, SAN / plain {s["model"]} at {max(s["resolutions"])} alone, batch {b} '
                     f'(SAN {train["images_per_s"]["san"]:.0f}, plain {train["images_per_s"]["plain"]:.0f} images/s)',
                     _f(train['san_vs_plain_images']),
                     f'>= {TARGETS["images_vs_flops"]} / {_f(ratio, 2)} = {_f(TARGETS["images_vs_flops"] / ratio)}'
                     if ratio else '-', met(train['images_met'])))
        rows.append((f'train step, SAN / shared convs + private BN, batch {b}', _f(train['step_vs_shared']),
                     f'<= {TARGETS["step_vs_shared"]}', met(train['step_met'])))
        rows.append((f'same with `regenerate_kernels=False`, batch {b}', _f(train['kept_vs_shared']),
                     f'<= {TARGETS["step_vs_shared"]}', met(train['kept_vs_shared'] <= TARGETS['step_vs_shared'])))
    mem = results.get('memory')
    if mem and mem.get('measured'):
        rows.append((f'peak train memory of a step, SAN / one plain step at {max(s["resolutions"])}, batch '
                     f'{mem["batch"]}', _f(mem['vs_plain']['san']), f'<= {TARGETS["memory_vs_plain"]}', met(mem['met'])))
        rows.append(('same with `regenerate_kernels=False`', _f(mem['vs_plain']['san_kept']),
                     f'<= {TARGETS["memory_vs_plain"]}', met(mem['vs_plain']['san_kept'] <= TARGETS['memory_vs_plain'])))
        rows.append(('same, step + parameters, buffers and optimizer state (the SAN has W and B per conv)',
                     _f(mem['total_vs_plain']['san']), '', '-'))
    for row in (results.get('latency') or {}).get('rows', []):
        rows.append((f'eval latency, SAN / original, {row["precision"]}, batch {row["batch"]}',
                     _f(row['san_vs_original']), f'<= {TARGETS["latency_vs_original"]}', met(row['met'])))
        rows.append((f'eval latency, baked / original, {row["precision"]}, batch {row["batch"]}',
                     _f(row['baked_vs_original']), '0.97..1.03', met(0.97 <= row['baked_vs_original'] <= 1.03)))
    comp = results.get('compile')
    if comp:
        rows.append((f'`torch.compile` ({comp["backend"]}) step / eager step, {comp["model"]} SAN, batch {comp["batch"]}',
                     _f(comp['ratio']), '', '-'))
        rows.append(('the compiled step updates every parameter the eager step updates',
                     _f(not comp['parameters_not_updated_count']), 'yes', met(not comp['parameters_not_updated_count'])))
    loader = results.get('loader')
    if loader and loader.get('vs_step') is not None:
        rows.append((f'loader images/s ({loader["workers"]} workers) / SAN step images/s, batch {loader["batch"]}',
                     _f(loader['vs_step']), '>= 1', met(loader['vs_step'] >= 1)))
    if ratio:
        rows.append((f'FLOPs of the {len(s["resolutions"])} resolutions / FLOPs at {max(s["resolutions"])}',
                     _f(ratio, 3), '', '-'))
    lines = ['## Summary', '', '| figure | value | target | |', '|---|---:|---|---|']
    lines += [f'| {a} | {b} | {c} | {d} |' for a, b, c, d in rows]
    return lines + ['']


def train_section(results: dict) -> list[str]:
    s = results['settings']
    lines = ['## Training step', '',
             f'{s["model"]} from timm in a `SANClassifier`, resolutions {s["resolutions"]}, {s["amp"]}, '
             f'channels_last={s["channels_last"]}, SGD momentum 0.9. The SAN variants get one uint8 view per '
             f'image already on the device and make the smaller views there (`resize_on_device`), as the ImageNet '
             f'configs do; `plain` is the unconverted network trained at {max(s["resolutions"])} alone. '
             f'Images/s counts each image once (the SAN trains it at every resolution).', '',
             '| batch | variant | step ms | images/s | spread of rounds | loss scale at the end |',
             '|---:|---|---:|---:|---:|---:|']
    for train in results.get('train', []):
        for variant, seconds in train['seconds'].items():
            lines.append(f'| {train["batch"]} | {variant} | {seconds * 1000:.1f} | {train["images_per_s"][variant]:.0f} '
                         f'| {train["spread"][variant]:.1%} | {_scale(train["loss_scales"].get(variant))} |')
        lines.append(f'| {train["batch"]} | SAN step / plain step, over the FLOPs ratio | '
                     f'{_f(train["step_vs_flops"])} | | | |')
        if not train['finite']:
            lines.append(f'| {train["batch"]} | **a loss was not finite** | | | | |')
    return lines + ['']


def memory_section(results: dict) -> list[str]:
    mem = results.get('memory')
    if not mem:
        return []
    if not mem.get('measured'):
        return ['## Peak memory', '', f'Not measured: {mem["reason"]}.', '']
    lines = ['## Peak memory', '',
             f'One training step of each variant, batch {mem["batch"]}: `step` is what `torch.cuda.max_memory_allocated` '
             f'rose by during the step over what was allocated before it (as the CPU figure: activations, gradients, '
             f'autocast copies), `total` adds the variant\'s own state (parameters, buffers, optimizer). `san_summed` '
             f'is the SAN with one backward of the summed loss (every resolution\'s graph alive until then).', '',
             '| variant | state MiB | step MiB | total MiB | step / plain | total / plain |',
             '|---|---:|---:|---:|---:|---:|']
    for name, v in mem['variants'].items():
        lines.append(f'| {name} | {v["state_mib"]:.0f} | {v["step_mib"]:.0f} | {v["total_mib"]:.0f} | '
                     f'{mem["vs_plain"][name]:.3f} | {mem["total_vs_plain"][name]:.3f} |')
    return lines + ['']


def latency_section(results: dict) -> list[str]:
    lat = results.get('latency')
    if not lat:
        return []
    lines = ['## Eval latency', '',
             f'At {lat["resolution"]} px, `torch.no_grad()`: the original timm network, the SAN converted from it '
             f'(`init=\'pretrained\'`, eval kernel cache) and the SAN baked back to the original classes. '
             f'`max |diff|` is the largest output difference to the original.', '',
             '| precision | batch | original ms | SAN ms | baked ms | SAN / original | baked / original | max abs diff |',
             '|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in lat['rows']:
        lines.append(f'| {r["precision"]} | {r["batch"]} | {r["ms"]["original"]:.3f} | {r["ms"]["san"]:.3f} | '
                     f'{r["ms"]["baked"]:.3f} | {r["san_vs_original"]:.3f} | {r["baked_vs_original"]:.3f} | '
                     f'{r["max_abs_diff"]:.2e} |')
    return lines + ['']


def loader_section(results: dict) -> list[str]:
    loader = results.get('loader')
    if not loader:
        return []
    lines = ['## Training loader', '',
             f'{loader["files"]} generated JPEGs of {", ".join("x".join(map(str, s)) for s in loader["image_sizes"])} '
             f'px (mean {loader["mean_file_kib"]:.0f} KiB), the ImageNet config\'s pipeline '
             f'({" + ".join(loader["pipeline"])}), `default_collate` in {loader["workers"]} workers, batch '
             f'{loader["batch"]}, then `SANDataPreprocessor(resize_on_device=True)` on the device (views '
             f'{loader["view_shapes"]}). Steady state: median of {loader["windows"]} windows of one batch per worker.', '',
             f'- loader + preprocessor: **{loader["images_per_s"]:.0f} images/s** (windows '
             f'{_f(loader["window_min"], 0)}..{_f(loader["window_max"], 0)}; {loader["images_per_s_with_start"]:.0f} '
             f'with the workers\' start)']
    if loader.get('step_images_per_s'):
        verdict = 'keeps up' if loader['vs_step'] >= 1 else '**does not keep up**'
        lines.append(f'- SAN training step: {loader["step_images_per_s"]:.0f} images/s (batch {loader["batch"]}): the '
                     f'loader {verdict} ({loader["vs_step"]:.2f}x)')
    return lines + ['']


def compile_section(results: dict) -> list[str]:
    comp = results.get('compile')
    if not comp:
        return ['## torch.compile', '', 'Not measured: it runs as a separate call (`--sections compile --merge`) '
                'where the GPU check has time left (see its log).', '']
    lines = ['## torch.compile', '',
             f'The {comp["model"]} SAN\'s forward compiled with `torch.compile(backend={comp["backend"]!r}, '
             f'dynamic=False)` (one graph per resolution) in its training step, {comp["amp"]}, batch {comp["batch"]}. '
             f'First step (compiling every resolution): {comp["first_step_s"]:.1f} s; {comp.get("graphs", "-")} graphs, '
             f'{comp.get("graph_breaks", "-")} graph breaks.', '',
             f'- eager {comp["seconds"]["eager"] * 1000:.1f} ms, compiled {comp["seconds"]["compiled"] * 1000:.1f} ms: '
             f'**{comp["ratio"]:.3f}**']
    if comp['parameters_not_updated_count']:
        lines.append(f'- **the compiled step left {comp["parameters_not_updated_count"]} parameters unchanged that the '
                     f'eager step updated** (e.g. {comp["parameters_not_updated"][:3]}): its graphs are wrong')
    else:
        lines.append('- the compiled step updated every parameter the eager step updated')
    return lines + ['']


def errors_section(results: dict) -> list[str]:
    errors = results.get('errors') or {}
    if not errors:
        return []
    lines = ['## Errors', '']
    for name, text in errors.items():
        lines += [f'### {name}', '', '```', text.strip()[-3000:], '```', '']
    return lines


def render(results: dict) -> str:
    parts = (header(results['meta']) + summary(results) + train_section(results) + memory_section(results)
             + latency_section(results) + loader_section(results) + compile_section(results) + errors_section(results))
    return '\n'.join(parts)
