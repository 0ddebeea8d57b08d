"""SANSpec: the settings' defaults, checks, the forms they take, and their saved form."""
import dataclasses

import pytest

from san_plugin.core import SANMetadataError, SANSpec, ScaleController, ScaleEncoding
from san_plugin.core.spec import METADATA_VERSION, SAVED_FIELDS, check_metadata

RES = (64, 48, 32)


def test_defaults_are_the_papers_san_keeping_the_hosts_weights():
    spec = SANSpec()
    assert spec.resolutions == (224, 192, 160, 128, 96)
    assert spec.encoding == ScaleEncoding() and spec.encoding(224) == pytest.approx(0.7)
    assert (spec.meta_hidden, spec.exclude, spec.convs, spec.init, spec.mode) == (None, (), 'meta', 'pretrained',
                                                                                   'proxy')


def test_every_setting_is_held_in_one_form():
    spec = SANSpec([32, 64, 48], encoding='standardized', exclude=['conv1', 'layer4.*'])
    assert spec.resolutions == RES
    assert spec.encoding == ScaleEncoding.standardized(RES)
    assert spec.exclude == ('conv1', 'layer4.*')
    assert SANSpec(RES, encoding={'factor': 0.2, 'base': 16.0}).encoding == ScaleEncoding(0.2, 16.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.mode = 'ideal'


@pytest.mark.parametrize('field, value, message', [
    ('resolutions', [], 'resolutions is empty'),
    ('resolutions', [64, 64], 'resolutions holds duplicates: [64]'),
    ('encoding', 'zscore', "encoding must be 'paper', 'standardized'"),
    ('encoding', {'factor': 1.0, 'scale': 2}, "encoding has unknown ScaleEncoding field(s) ['scale']"),
    ('encoding', {'offset': float('nan')}, 'encoding {'),
    ('meta_hidden', 0, 'meta_hidden must be a positive integer or None, got 0'),
    ('meta_hidden', True, 'meta_hidden must be a positive integer or None, got True'),
    ('exclude', 'conv1', "exclude must be a list of layer-name patterns, e.g. ['conv1'], got 'conv1'"),
    ('exclude', ['conv1', 3], 'exclude must hold layer-name patterns (strings), got 3'),
    ('convs', 'both', "convs must be one of ('meta', 'shared'), got 'both'"),
    ('init', 'kaiming', "init must be one of ('pretrained', 'scratch'), got 'kaiming'"),
    ('mode', 'exact', "mode must be one of ('proxy', 'ideal'), got 'exact'"),
])
def test_a_bad_setting_is_refused_by_a_message_that_starts_with_its_name(field, value, message):
    with pytest.raises(ValueError) as info:
        SANSpec(**{'resolutions': RES, field: value})
    assert str(info.value).startswith(message)


def test_of_takes_a_spec_or_resolutions_with_settings():
    spec = SANSpec(RES, convs='shared')
    assert SANSpec.of(spec) is spec
    assert SANSpec.of([32, 64, 48], convs='shared') == spec
    with pytest.raises(TypeError, match=r"not both \(got a SANSpec and \['mode'\]\)"):
        SANSpec.of(spec, mode='ideal')
    with pytest.raises(TypeError, match=r"unknown SAN setting\(s\) \['hidden'\]; known: \['resolutions', 'encoding'"):
        SANSpec.of(RES, hidden=8)


def test_split_separates_the_settings_from_other_options():
    spec, rest = SANSpec.split({'resolutions': [64, 32], 'convs': 'shared', 'num_classes': 10, 'drop_rate': 0.1})
    assert spec == SANSpec([64, 32], convs='shared')
    assert rest == {'num_classes': 10, 'drop_rate': 0.1}


def test_saved_form_round_trip_keeps_the_saved_fields_only():
    spec = SANSpec(RES, encoding='standardized', meta_hidden=8, exclude=['conv1'], convs='shared', init='scratch',
                   mode='ideal')
    saved = spec.to_metadata()
    assert list(saved) == ['version', *SAVED_FIELDS] and saved['version'] == METADATA_VERSION
    assert saved['encoding'] == dataclasses.asdict(ScaleEncoding.standardized(RES))
    assert SANSpec.from_metadata(saved) == dataclasses.replace(spec, init='pretrained', mode='proxy')


def test_saved_forms_of_version_1_without_the_later_fields_load():
    saved = SANSpec(RES).to_metadata()
    del saved['convs'], saved['version']
    saved['encoding'].pop('offset')
    assert SANSpec.from_metadata(saved) == SANSpec(RES)


def test_another_version_or_a_malformed_saved_form_is_refused_naming_it():
    saved = SANSpec(RES).to_metadata()
    with pytest.raises(SANMetadataError, match='checkpoint SAN metadata has version 2; this san_plugin reads '):
        SANSpec.from_metadata({**saved, 'version': 2})
    with pytest.raises(SANMetadataError, match=r"malformed: it has no \['exclude'\]"):
        SANSpec.from_metadata({key: value for key, value in saved.items() if key != 'exclude'})
    with pytest.raises(SANMetadataError, match=r'malformed: resolutions holds duplicates: \[64\]'):
        SANSpec.from_metadata({**saved, 'resolutions': [64, 64]})


def test_the_controller_holds_the_spec_and_follows_its_mode():
    spec = SANSpec(RES, meta_hidden=8, exclude=['conv1'], convs='shared')
    ctrl = ScaleController(spec)
    assert ctrl.spec is spec
    assert (ctrl.resolutions, ctrl.encoding, ctrl.meta_hidden, ctrl.exclude, ctrl.convs, ctrl.mode) == (
        RES, ScaleEncoding(), 8, ('conv1',), 'shared', 'proxy')
    ctrl.mode = 'ideal'
    assert ctrl.spec == dataclasses.replace(spec, mode='ideal')
    assert ctrl.metadata() == {**spec.to_metadata(), 'calibrated': []}


def test_metadata_written_before_the_offset_loads():
    old = ScaleController(RES).metadata()
    old['encoding'].pop('offset')
    check_metadata(old, ScaleController(RES).metadata())
    with pytest.raises(SANMetadataError, match='encoding'):
        check_metadata(old, ScaleController(RES, encoding='standardized').metadata())


def test_metadata_round_trip_and_mismatch_names_the_field():
    ctrl = ScaleController(RES, meta_hidden=8, exclude=['conv1'])
    meta = ctrl.metadata()
    check_metadata(meta, ScaleController(RES, meta_hidden=8, exclude=['conv1']).metadata())
    with pytest.raises(SANMetadataError, match='meta_hidden: checkpoint has 8, this model has 16') as info:
        check_metadata(meta, ScaleController(RES, meta_hidden=16, exclude=['conv1']).metadata())
    assert 'resolutions:' not in str(info.value)
    with pytest.raises(SANMetadataError, match=r'resolutions: checkpoint has \[64, 48, 32\]'):
        check_metadata(meta, ScaleController([64, 32], meta_hidden=8, exclude=['conv1']).metadata())
    with pytest.raises(SANMetadataError, match='malformed'):
        check_metadata({'foo': 1}, meta)
