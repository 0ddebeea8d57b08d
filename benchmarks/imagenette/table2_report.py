"""The markdown and figure of the Table 2 script, written from its json alone (so they regenerate from a
committed json: ``table2.py --from-json``).

``summarise`` derives what the markdown states (the per-size summary and the comparison with the paper's
pattern) from the json's cells; ``markdown`` and ``plot`` are pure functions of the json.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks.imagenette.common import fmt, fmt_minutes
from benchmarks.imagenette.figures import finish_and_save
from benchmarks.portable_paths import portable

HALF_POINT = 0.5
DIP_KEYS = ('proxy', 'calibrated', 'interpolated', 'envelope')
PAPER = dict(  # the paper's Table 2 (ResNet-18 SAN, ImageNet, test sizes 208/176/144/112 between its training sizes)
    before=(19.71, 71.71), after=(59.18, 72.13), proxy_minus_calibrated_at_nearest=(-0.20, -0.04))
ARCH_NAMES = {'resnet18': 'ResNet-18', 'mobilenetv2': 'MobileNetV2'}
SETTING_TITLES = {
    'before': 'Ideal inference before BN calibration (encoding eps(T), BN branch of S_j as trained)',
    'calibrated': 'Ideal inference after BN calibration (encoding eps(T), BN branch of S_j, statistics at T)',
    'proxy': 'Proxy inference (encoding and BN branch of S_j)',
}


def _cells(result: dict, setting: str) -> dict[int, dict[int, float]]:
    return {int(s): {int(t): v for t, v in row.items()} for s, row in result['cells'][setting].items()}


def nearest(result: dict, t: int) -> int:
    """S(T): the training size whose branch proxy inference uses at T (recorded by the script)."""
    return int(result['proxy_row'][str(t)])


def _range(values: list[float]) -> list[float] | None:
    return [min(values), max(values)] if values else None


def summarise(result: dict) -> dict:
    """Per test size the SAN's settings at S(T) beside the baselines, and the comparison with the paper.

    Returns:
        ``{'per_size': {T: {...}}, 'groups': {'between': {...}, 'outside': {...}}, 'dips': {T: {...}},
        'recalibrated_diagonal': {...}}``; a dip is the top-1 at T minus the mean of the two adjacent test sizes
        (proxy, ideal calibrated and interpolated at S(T), the baselines' envelope); a group holds the off-grid
        sizes between the training sizes (``between``) or outside their range
        (``outside``): calibration's lift per cell, the ranges before and after, proxy minus ideal
        calibrated at S(T), interpolated minus ideal calibrated at S(T).
    """
    tests, train = result['tests'], result['train_resolutions']
    before, after, proxy = (_cells(result, k) for k in ('before', 'calibrated', 'proxy'))
    interpolated = {int(t): v for t, v in result['cells']['interpolated'].items()}
    baselines = {n: {int(t): v for t, v in row.items()} for n, row in result['cells']['baselines'].items()}
    per_size = {}
    for t in tests:
        s = nearest(result, t)
        row = {n: b[t] for n, b in baselines.items() if b.get(t) is not None}
        best = max(row, key=row.get) if row else None
        per_size[str(t)] = dict(nearest=s, proxy=proxy[s][t], calibrated=after[s][t], before=before[s][t],
                                interpolated=interpolated[t], envelope=row[best] if best else None,
                                best_baseline=best, baselines=row,
                                proxy_minus_envelope=proxy[s][t] - row[best] if best else None)
    groups = {}
    for group, members in (('between', [t for t in tests if min(train) < t < max(train) and t not in train]),
                           ('outside', [t for t in tests if t > max(train) or t < min(train)])):
        lifts = [after[s][t] - before[s][t] for t in members for s in train]
        gaps = {str(t): proxy[nearest(result, t)][t] - after[nearest(result, t)][t] for t in members}
        groups[group] = dict(
            sizes=members, cells=len(lifts), lifted=sum(d > 0 for d in lifts),
            mean_lift=sum(lifts) / len(lifts) if lifts else None,
            before_range=_range([before[s][t] for t in members for s in train]),
            after_range=_range([after[s][t] for t in members for s in train]),
            proxy_minus_calibrated=gaps,
            proxy_within_half_point=sum(abs(g) <= HALF_POINT for g in gaps.values()),
            interpolated_minus_calibrated={str(t): interpolated[t] - after[nearest(result, t)][t] for t in members})
    dips = {}
    for above, t, below in zip(tests, tests[1:], tests[2:]):
        dips[str(t)] = {key: per_size[str(t)][key] - (per_size[str(above)][key] + per_size[str(below)][key]) / 2
                        for key in DIP_KEYS if per_size[str(t)][key] is not None}
    return dict(per_size=per_size, groups=groups, dips=dips,
                recalibrated_diagonal={str(s): after[s][s] - proxy[s][s] for s in train if s in tests})


# -- markdown -----------------------------------------------------------------------------------
def _matrix(rows: dict[int, dict[int, float]], tests, bold) -> list[str]:
    lines = ['| Train \\ Test | ' + ' | '.join(str(t) for t in tests) + ' |', '|---|' + '---:|' * len(tests)]
    for s in sorted(rows, reverse=True):
        cells = [f'**{fmt(rows[s].get(t))}**' if bold(s, t) else fmt(rows[s].get(t)) for t in tests]
        lines.append(f'| {s} | ' + ' | '.join(cells) + ' |')
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)] + ['| ' + ' | '.join(r) + ' |' for r in rows]


def _pct_range(r) -> str:
    return '-' if r is None else f'{fmt(r[0])}-{fmt(r[1])} %'


def _model_text(record: dict) -> str:
    info = record['run_info']
    parts = [f"`{portable(record['dir'])}` ({record['config']}", f"checkpoint `{Path(record['checkpoint']).name}`"]
    for key, label in (('epochs', 'epochs'), ('lr', 'lr'), ('width', 'width x'), ('seed', 'seed')):
        if info.get(key) is not None:
            parts.append(f'{label} {info[key]}' if label != 'width x' else f'width x{info[key]}')
    return ', '.join(parts) + ')'


def comparison(result: dict, summary: dict) -> list[str]:
    """The automatically written comparison with the paper's pattern."""
    lines = []
    between, outside = summary['groups']['between'], summary['groups']['outside']
    for label, group in (('between the training sizes', between), ('outside the training range', outside)):
        if not group['sizes']:
            lines.append(f'- No test size {label}.')
            continue
        sizes = '/'.join(str(t) for t in group['sizes'])
        lift = group['mean_lift']
        verdict = 'lifts' if group['lifted'] == group['cells'] else (
            'lifts most of' if group['lifted'] > group['cells'] / 2 else 'does not lift most of')
        lines.append(f'- **Calibration, {label}** ({sizes} px, every row): calibration {verdict} the ideal-inference '
                     f'cells ({group["lifted"]} of {group["cells"]} higher, mean {fmt(lift, sign=True)} points): '
                     f'{_pct_range(group["before_range"])} before, {_pct_range(group["after_range"])} after '
                     '(the paper, '
                     f'between its training sizes: {_pct_range(PAPER["before"])} before, {_pct_range(PAPER["after"])} '
                     'after).')
        gaps = group['proxy_minus_calibrated']
        within = group['proxy_within_half_point']
        lines.append(f'- **Proxy against ideal calibrated at S(T), {label}**: within {HALF_POINT} point at {within} of '
                     f'{len(gaps)} sizes (' + ', '.join(f'{t}: {fmt(g, sign=True)}' for t, g in gaps.items()) +
                     f'; the paper: {fmt(PAPER["proxy_minus_calibrated_at_nearest"][0], sign=True)} to '
                     f'{fmt(PAPER["proxy_minus_calibrated_at_nearest"][1], sign=True)}).')
        inter = group['interpolated_minus_calibrated']
        lines.append(f'- **Data-free interpolation against ideal calibrated at S(T), {label}**: ' +
                     ', '.join(f'{t}: {fmt(g, sign=True)}' for t, g in inter.items()) + '.')
    diag = summary['recalibrated_diagonal']
    if diag:
        lines.append('- **Recalibrating a trained branch at its own size** (ideal calibrated minus proxy on the '
                     'diagonal): ' + ', '.join(f'{s}: {fmt(g, sign=True)}' for s, g in diag.items()) + '.')
    margins = {t: e['proxy_minus_envelope'] for t, e in summary['per_size'].items()
               if e['proxy_minus_envelope'] is not None}
    if margins:
        below = [t for t, m in margins.items() if m < 0]
        lines.append(f'- **Proxy against the baselines\' envelope**: ahead at {len(margins) - len(below)} of '
                     f'{len(margins)} test sizes' + (f', behind at {"/".join(below)} px.' if below else '.'))
    return lines


def _diagnosis(diag: dict) -> list[str]:
    lines = ['## Diagnosis: sizes off the grid', '',
             'Models: ' + '; '.join(f'`{n}` ({d})' for n, d in diag['models'].items()) + '.', '',
             '### Feature-map size after each stage', '',
             'From forward hooks on each model\'s own backbone stages (a zero image at each input size); a cell is '
             'the side of a square map (H x W otherwise).', '']
    groups: dict[str, list[str]] = {}
    for name, stages in diag['feature_maps'].items():
        groups.setdefault(repr(stages), []).append(name)
    sizes = diag['sizes']
    for names in groups.values():
        stages = diag['feature_maps'][names[0]]
        lines += [f'{", ".join(f"`{n}`" for n in names)}:', '']
        rows = [[stage] + [_side(cells.get(str(t))) for t in sizes] for stage, cells in stages.items()]
        lines += _table(['stage \\ input'] + [str(t) for t in sizes], rows) + ['']
    lines += ['### The same pixels at another size', '',
              'The standard test crop at T, resized (pillow bicubic) or zero-padded after normalisation (the mean '
              'colour around it) to T\', run at T\'; beside the model at T and at T\' (the reference: its own test '
              'crop at T\'). Resized pixels scoring like T\' point at how the network handles the size T; scoring '
              'like T, at the information in the pixels.', '']
    rows = [[f'`{r["model"]}`', str(r['size']), str(r['to']), fmt(r['at_size']), fmt(r['resized']), fmt(r['padded']),
             fmt(r['at_to'])] for r in diag['resized']]
    lines += _table(['model', 'T', "T'", 'at T', "T crop resized to T'", "T crop padded to T'", "at T' (reference)"],
                    rows) + ['']
    lines += ['### Test crops', '',
              'The standard crop resizes the short side to round(T / 0.875) and takes the centre T; the variants '
              'round that side otherwise, or start from the crop of a nearby multiple M of 8/16/32 (its crop resized '
              'to T: the same field of view; or the centre T of its short side: another field of view). Field of '
              'view: the crop\'s share of the resized short side.', '']
    names = list(diag['models'])
    rows = [[str(c['size']), c['variant'], str(c['short']), str(c['crop']), fmt(c['field_of_view'], 3)]
            + [fmt(c['top1'][n]) for n in names] for c in diag['crops']]
    lines += _table(['T', 'crop', 'short side', 'centre crop', 'field of view'] + [f'`{n}`' for n in names], rows)
    return lines + ['']


def _side(cell) -> str:
    if cell is None:
        return '-'
    return str(cell[0]) if cell[0] == cell[1] else f'{cell[0]}x{cell[1]}'


def markdown(result: dict, png: str | None = None) -> str:
    """The report: the three panels, the interpolation row, the per-size summary, the comparison, checks,
    the diagnosis (if measured), setup and cost."""
    summary = summarise(result)
    tests, train = result['tests'], result['train_resolutions']
    arch = ARCH_NAMES.get(result['arch'], result['arch'])
    calib = result['calibration']
    lines = [f'# Ideal and proxy inference on Imagenette: {arch} SAN (the paper\'s Table 2)', '']
    subset = '' if result.get('val_images') is None else ' (an evenly spaced subset, not the whole validation set)'
    lines += [f'Top-1 (%) on {result["num_images"]:,} Imagenette validation images{subset}, the standard test crop '
              f'(short side to T / 0.875, centre T). SAN: {_model_text(result["san"])}; training sizes '
              f'{"/".join(map(str, train))}. Rows: the BN branch S_j; **bold**: the cell at S(T), the nearest '
              'training size (ties to the larger), the one each inference rule uses at T.', '',
              'Terms as in [docs/convert.md](../../docs/convert.md): *proxy inference* runs T with the encoding and BN '
              'branch of S(T), no calibration; *ideal inference* runs T with its own encoding eps(T) and a BN branch '
              'whose statistics are measured at T (calibrated on data, or interpolated without data).', '',
              f'BN calibration: {calib["num_images"]:,} images of the **{calib["split"]}** split (a draw with seed '
              f'{calib["seed"]}; the paths are in the json), {_crop_text(calib)}; batches of {calib["batch_size"]}, '
              f'{calib["statistics"]}, every branch recalibrated at every test size (a training size T other than '
              f'S_j: its branch replaced by S_j\'s first). Calibration took {fmt_minutes(calib["total_wall_s"])} for '
              f'the whole grid ({len(train)} rows x {len(tests)} sizes), the calibration crops '
              f'{fmt_minutes(calib["decode_wall_s"])} to make.', '']
    bold = {k: (lambda s, t: nearest(result, t) == s) for k in SETTING_TITLES}
    for key in ('before', 'calibrated', 'proxy'):
        lines += [f'## {SETTING_TITLES[key]}', ''] + _matrix(_cells(result, key), tests, bold[key]) + ['']
    weights = result['interpolation_weights']
    lines += ['## Data-free BN interpolation (ideal inference without data)', '',
              'Encoding eps(T) with a BN branch (affine parameters and statistics) interpolated linearly in the '
              'encoding between the two neighbouring training branches; outside the training range the nearest '
              'branch; a training size runs its own branch.', '']
    lines += _table(['', *map(str, tests)],
                    [['interpolated', *(fmt(result['cells']['interpolated'][str(t)]) for t in tests)],
                     ['branches', *(_weights(weights.get(str(t))) for t in tests)]]) + ['']
    names = list(result['cells']['baselines'])
    lines += ['## Per test size', '',
              'The SAN at S(T) under each rule, the baselines\' envelope (the best baseline at T) and each baseline '
              f'({", ".join(f"`{n}` trained at {_train(result, n)}" for n in names) or "none given"}).', '']
    rows = []
    for t in tests:
        e = summary['per_size'][str(t)]
        rows.append([str(t), str(e['nearest']), fmt(e['proxy']), fmt(e['calibrated']), fmt(e['before']),
                     fmt(e['interpolated']), fmt(e['envelope']), fmt(e['proxy_minus_envelope'], sign=True)]
                    + [fmt(e['baselines'].get(n)) for n in names])
    lines += _table(['T', 'S(T)', 'proxy', 'ideal calibrated', 'ideal before', 'interpolated', 'baseline envelope',
                     'proxy - envelope'] + [f'`{n}`' for n in names], rows) + ['']
    lines += ['### Dips', '', 'Top-1 at T minus the mean of the two adjacent test sizes (negative: T falls below '
              'its neighbours).', '']
    lines += _table(['T', 'proxy', 'ideal calibrated', 'interpolated', 'baseline envelope'],
                    [[t, *(fmt(d.get(k), sign=True) for k in DIP_KEYS)] for t, d in summary['dips'].items()]) + ['']
    lines += ['## Compared with the paper\'s pattern', ''] + comparison(result, summary) + ['']
    checks = result['checks']['max_abs_logit_difference']
    if checks:
        lines += ['## Checks', '',
                  'At a training size T, ideal inference before calibration in row T and data-free interpolation are '
                  'proxy inference (the same encoding and branch). Largest |logit difference| from the proxy cell over '
                  'every validation image: ' + '; '.join(
                      f'{t} px: ideal before calibration {by["before_vs_proxy"]:.3g}, interpolated '
                      f'{by["interpolated_vs_proxy"]:.3g}' for t, by in checks.items()) + '.', '']
    if png:
        lines += [f'![top-1 against test size]({png})', '']
    if result.get('diagnose'):
        lines += _diagnosis(result['diagnose'])
    lines += _setup(result)
    return '\n'.join(lines)


def _crop_text(calib: dict) -> str:
    step = calib['step']
    if calib['crop'] == 'test':
        return 'the standard test crop at T (short side to T / 0.875, centre T), no flip'
    return (f"the training transform's crop: one RandomResizedCrop per image (area {step['crop_ratio_range'][0]}-"
            f"{step['crop_ratio_range'][1]}, aspect {step['aspect_ratio_range'][0]:.3g}-"
            f"{step['aspect_ratio_range'][1]:.3g}, "
            f"{step['backend']} {step['interpolation']}) resized to every T, horizontal flip with probability "
            f"{step['flip_prob']}, drawn once per image with its seed so every row and size sees the same crops")


def _weights(weights: dict | None) -> str:
    if not weights:
        return 'own'
    return ' + '.join(f'{w:.2f} x {s}' for s, w in weights.items())


def _train(result: dict, name: str) -> str:
    sizes = result['baselines'][name]['train_resolutions']
    return '/'.join(map(str, sizes)) + ' px' if sizes else '?'


def _setup(result: dict) -> list[str]:
    cost, machine = result['cost'], result['machine']
    lines = ['## Setup and cost', '',
             f'Command: `{portable(result["command"])}` (started {result["started"]}).', '',
             f'Evaluation: {cost["forwards_per_image"]} forward passes per validation image (every setting at every '
             f'size{", and the diagnosis" if result.get("diagnose") else ""}), one decode per image, batches of '
             f'{cost["batch_size"]}, {fmt_minutes(cost["eval_wall_s"])}; the whole run '
             f'{fmt_minutes(cost["total_wall_s"])} on {machine["cpus"]} CPU cores ({machine["processor"]}, '
             f'{cost["threads"]} torch threads, torch {machine["torch"]}); wall times include whatever else ran on '
             'the machine.', '', 'Models (their run records are in the json):', '',
             f'- SAN: {_model_text(result["san"])}; trained with `{portable(result["san"]["run_info"].get("command", "?"))}`']
    for name, record in result['baselines'].items():
        lines.append(f'- `{name}` (trained at {_train(result, name)}): {_model_text(record)}')
    return lines + ['']


# -- figure -------------------------------------------------------------------------------------
def plot(result: dict, path: Path) -> Path | None:
    """Top-1 against test size: proxy, ideal calibrated and ideal before at S(T), interpolated, the
    baselines' envelope (thick) and each baseline (thin)."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    summary = summarise(result)
    tests = result['tests']
    per = summary['per_size']
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for i, name in enumerate(result['cells']['baselines']):
        row = result['cells']['baselines'][name]
        ax.plot(tests, [row[str(t)] for t in tests], lw=0.8, color=plt.cm.Greys(0.35 + 0.1 * i), marker='.', ms=3,
                label=f'{name} (trained at {_train(result, name)})')
    if result['cells']['baselines']:
        ax.plot(tests, [per[str(t)]['envelope'] for t in tests], lw=2.4, color='black', label="baselines' envelope")
    styles = (('proxy', 'SAN proxy inference', dict(color='tab:red', lw=2, marker='s', ms=4)),
              ('calibrated', 'SAN ideal, BN calibrated at T', dict(color='tab:blue', lw=1.6, marker='o', ms=3)),
              ('interpolated', 'SAN ideal, BN interpolated (data-free)', dict(color='tab:green', lw=1.3, ls='--')),
              ('before', 'SAN ideal, before calibration', dict(color='tab:orange', lw=1, ls=':')))
    for key, label, style in styles:
        ax.plot(tests, [per[str(t)][key] for t in tests], label=label + ' (row S(T))', **style)
    for s in result['train_resolutions']:
        if min(tests) <= s <= max(tests):
            ax.axvline(s, color='0.9', lw=0.8, zorder=0)
    arch = ARCH_NAMES.get(result['arch'], result['arch'])
    ax.set_xlabel('test size T (px)')
    ax.set_ylabel(f'top-1 (%) on {result["num_images"]:,} Imagenette val images')
    ax.set_title(f'{arch} SAN on Imagenette: ideal and proxy inference')
    return finish_and_save(fig, ax, path)
