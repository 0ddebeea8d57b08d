"""SANSpec: every setting of a SAN conversion, with its default, its check and its saved form.

The user-facing forms of the settings all become one :class:`SANSpec`, once:
``convert(model, [224, 160], encoding='standardized')``, timm's
``create_model('san_resnet50', resolutions=[...], convs='shared')`` and an MMPretrain config's
``san=dict(...)``. The converted model's :class:`~san_plugin.core.ScaleController` holds it; a
checkpoint records its saved fields (:meth:`SANSpec.to_metadata`) and loading compares them
(:func:`check_metadata`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Mapping, Sequence

from .meta_learner import check_hidden_width
from .scale import ScaleEncoding, validate_resolutions

#: The version of the saved form that :meth:`SANSpec.to_metadata` writes and :meth:`SANSpec.from_metadata` reads.
METADATA_VERSION = 1
#: The fields a checkpoint records and loading compares: what the weights' shapes and meaning depend on.
SAVED_FIELDS = ('resolutions', 'encoding', 'meta_hidden', 'exclude', 'convs')
CONV_MODES = ('meta', 'shared')
INITS = ('pretrained', 'scratch')
MODES = ('proxy', 'ideal')


class SANMetadataError(ValueError):
    """A SAN checkpoint does not match the model it is loaded into."""


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Returns ``value`` if it is one of ``choices``, else raises a ``ValueError`` naming both."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got {value!r}')
    return value


def _layer_patterns(exclude: Any) -> tuple[str, ...]:
    if isinstance(exclude, (str, bytes)) or not isinstance(exclude, Iterable):
        raise ValueError(f"exclude must be a list of layer-name patterns, e.g. ['conv1'], got {exclude!r}")
    patterns = tuple(exclude)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ValueError(f'exclude must hold layer-name patterns (strings), got {pattern!r}')
    return patterns


@dataclass(frozen=True)
class SANSpec:
    """Every setting of a SAN conversion: their defaults, checks and saved form are stated here only.

    Construction checks every field and holds it in one form: ``resolutions`` a tuple, largest
    first; ``encoding`` a :class:`~san_plugin.core.ScaleEncoding` (``'standardized'`` is worked
    out over these resolutions); ``exclude`` a tuple. Every error message starts with the
    field's name.

    Attributes:
        resolutions: the training resolutions: positive integers, no duplicates, any order.
            Default: the paper's ImageNet set (that of its released models).
        encoding: the scalar fed to the meta learners: ``'paper'`` (``0.1 * S / 32``, the
            default), ``'standardized'`` (zero mean, unit variance over ``resolutions``), a
            dict of :class:`~san_plugin.core.ScaleEncoding` fields, or one.
        meta_hidden: None for the paper's affine meta learner (``kernel = eps * W + B``), else
            the hidden width of a two-layer MLP meta learner.
        exclude: ``fnmatch`` patterns of qualified layer names kept shared (a pattern must
            match a layer of the converted model).
        convs: ``'meta'`` (generated convolutions: the SAN) or ``'shared'`` (convolutions stay
            shared, only the batch norms become private: the private-BN ablation).
        init: ``'pretrained'`` (default: ``W = 0`` and ``B`` = the layer's current kernel, so the
            host's weights, trained or freshly initialised, are kept) or ``'scratch'`` (``B``
            re-drawn: Kaiming normal, fan-out; ``W = 0``).
        mode: ``'proxy'`` (default) or ``'ideal'`` inference; the controller's mode, which
            ``set_mode`` changes at run time.

    A checkpoint records the :data:`SAVED_FIELDS`. ``init`` (how the weights began) and ``mode``
    (a run-time switch) are not saved: a checkpoint loads whatever they are.

    Example:
        >>> spec = SANSpec([160, 224], encoding='standardized', convs='shared')
        >>> spec.resolutions, spec.encoding
        ((224, 160), ScaleEncoding(factor=1.0, base=32.0, offset=-6.0))
        >>> SANSpec.from_metadata(spec.to_metadata()) == spec
        True
    """

    resolutions: Iterable[int] = (224, 192, 160, 128, 96)
    encoding: ScaleEncoding | str | Mapping[str, float] = ScaleEncoding()
    meta_hidden: int | None = None
    exclude: Iterable[str] = ()
    convs: str = 'meta'
    init: str = 'pretrained'
    mode: str = 'proxy'

    def __post_init__(self) -> None:
        resolutions = validate_resolutions(self.resolutions)
        held = {
            'resolutions': resolutions,
            'encoding': ScaleEncoding.from_config(self.encoding, resolutions),
            'meta_hidden': check_hidden_width(self.meta_hidden),
            'exclude': _layer_patterns(self.exclude),
            'convs': check_choice('convs', self.convs, CONV_MODES),
            'init': check_choice('init', self.init, INITS),
            'mode': check_choice('mode', self.mode, MODES),
        }
        for name, value in held.items():
            object.__setattr__(self, name, value)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the settings, in their order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, spec_or_resolutions: 'SANSpec' | Iterable[int], **settings: Any) -> 'SANSpec':
        """The spec of ``convert``-style arguments: a ``SANSpec`` as it is, or the resolutions and
        the other settings by name.

        Raises:
            TypeError: a ``SANSpec`` together with settings, or a name that is no setting.
        """
        if isinstance(spec_or_resolutions, SANSpec):
            if settings:
                raise TypeError(f'give either a SANSpec or resolutions with settings, not both '
                                f'(got a SANSpec and {sorted(settings)})')
            return spec_or_resolutions
        unknown = set(settings) - set(cls.field_names())
        if unknown:
            raise TypeError(f'unknown SAN setting(s) {sorted(unknown)}; known: {list(cls.field_names())}')
        return cls(spec_or_resolutions, **settings)

    @classmethod
    def split(cls, options: Mapping[str, Any]) -> tuple['SANSpec', dict[str, Any]]:
        """The spec of the settings among ``options`` (the others at their defaults), and the other options.

        Example:
            >>> spec, rest = SANSpec.split({'resolutions': [64, 32], 'num_classes': 10})
            >>> spec.resolutions, rest
            ((64, 32), {'num_classes': 10})
        """
        names = cls.field_names()
        return (cls(**{k: v for k, v in options.items() if k in names}),
                {k: v for k, v in options.items() if k not in names})

    # -- the saved form -------------------------------------------------------------------
    def to_metadata(self) -> dict[str, Any]:
        """The saved form: the version and the :data:`SAVED_FIELDS` as plain Python values."""
        return {
            'version': METADATA_VERSION,
            'resolutions': list(self.resolutions),
            'encoding': asdict(self.encoding),
            'meta_hidden': self.meta_hidden,
            'exclude': list(self.exclude),
            'convs': self.convs,
        }

    @classmethod
    def from_metadata(cls, metadata: Any, source: str = 'checkpoint') -> 'SANSpec':
        """The spec a saved form records (``init`` and ``mode`` at their defaults: they are not saved).

        Reads version 1 in every form this package wrote: without ``convs`` (written before
        that setting existed: ``'meta'``) and with an encoding without ``offset`` (0).

        Raises:
            SANMetadataError: naming ``source``, for another version or a malformed form.
        """
        if not isinstance(metadata, Mapping) or 'resolutions' not in metadata:
            raise SANMetadataError(f'{source} SAN metadata is malformed: {metadata!r}')
        version = metadata.get('version', 1)
        if version != METADATA_VERSION:
            raise SANMetadataError(f'{source} SAN metadata has version {version!r}; this san_plugin reads '
                                   f'version {METADATA_VERSION}')
        missing = [name for name in SAVED_FIELDS if name not in metadata and name != 'convs']
        if missing:
            raise SANMetadataError(f'{source} SAN metadata is malformed: it has no {missing}: {dict(metadata)!r}')
        try:
            return cls(**{name: metadata[name] for name in SAVED_FIELDS if name in metadata})
        except (TypeError, ValueError) as error:
            raise SANMetadataError(f'{source} SAN metadata is malformed: {error}') from error


def check_metadata(checkpoint: Any, model: Mapping[str, Any], source: str = 'checkpoint') -> None:
    """Raises :class:`SANMetadataError` listing every saved field in which two SANs differ.

    Both sides are saved forms (:meth:`SANSpec.to_metadata`, as in a state dict), compared
    after reading each with :meth:`SANSpec.from_metadata`. A model's calibrated resolutions are
    not compared: loading adds the checkpoint's ones.
    """
    theirs = SANSpec.from_metadata(checkpoint, source).to_metadata()
    ours = SANSpec.from_metadata(model, 'model').to_metadata()
    differences = [f'{key}: {source} has {theirs[key]!r}, this model has {ours[key]!r}'
                   for key in SAVED_FIELDS if theirs[key] != ours[key]]
    if differences:
        raise SANMetadataError(
            f'the {source} was made for a differently converted SAN; ' + '; '.join(differences)
            + f'. Convert the model with the same settings ({", ".join(SAVED_FIELDS)}).')
