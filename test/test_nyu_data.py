"""NYU Depth v2 loaders on small files written in the real layouts: the metres read back are the metres written."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from nyu_fixtures import make_nyu_csv_files, write_labeled_mat, write_nyu_dir, write_nyu_zip

from jdd_ros.depth.nyu import NYUCsvSource, NYUFormatError, NYUMatSource, read_split_indices


@pytest.fixture(scope='module')
def csv_layout(tmp_path_factory):
    files, truth = make_nyu_csv_files(np.random.default_rng(4), n_train=3, n_test=2, h=48, w=64)
    root = tmp_path_factory.mktemp('nyu')
    return write_nyu_zip(root / 'nyu_data.zip', files), write_nyu_dir(root / 'extracted', files), truth


@pytest.mark.parametrize('where', ['zip', 'dir', 'csv'])
@pytest.mark.parametrize('split', ['train', 'test'])
def test_csv_layout_gives_the_metres_written(csv_layout, where, split):
    zip_path, root, truth = csv_layout
    location = {'zip': zip_path, 'dir': root, 'csv': root / 'data' / f'nyu2_{split}.csv'}[where]
    source = NYUCsvSource(location, split)
    assert len(source) == (3 if split == 'train' else 2)
    for i in range(len(source)):
        sample = source.load(i)
        rgb, depth = truth[sample.name]
        assert sample.depth.dtype == np.float32
        # train: 8-bit PNG, value/255*10 m; test: 16-bit PNG in millimetres -- exact up to float32 rounding
        np.testing.assert_allclose(sample.depth, depth, rtol=1e-6, atol=1e-6)
        if split == 'test':  # lossless PNG colour
            np.testing.assert_array_equal(sample.rgb, rgb)
        else:  # JPEG: RGB order kept, values within JPEG error
            assert np.abs(sample.rgb.astype(int) - rgb).mean() < 3
    # 8-bit 255 is 10 m, 0 stays "no measurement"
    if split == 'train':
        d = source.load(0).depth
        assert d.max() == pytest.approx(10.0) and d.min() == 0.0


def test_train_csv_path_finds_the_test_split_beside_it(csv_layout):
    _, root, truth = csv_layout
    test = NYUCsvSource(root / 'data' / 'nyu2_train.csv', 'test')
    assert len(test) == 2 and test.load(0).name == 'data/nyu2_test/00000_colors.png'
    assert test.csv_name != NYUCsvSource(root / 'data' / 'nyu2_train.csv', 'train').csv_name


def test_csv_layout_reports_missing_files(tmp_path):
    files, _ = make_nyu_csv_files(np.random.default_rng(1), n_train=1, n_test=1, h=8, w=8)
    del files['data/nyu2_train/living_room_0000_out/1.png']
    source = NYUCsvSource(write_nyu_zip(tmp_path / 'nyu.zip', files), 'train')
    with pytest.raises(NYUFormatError, match='living_room_0000_out/1.png'):
        source.load(0)
    with pytest.raises(FileNotFoundError):
        NYUCsvSource(tmp_path / 'absent.zip')
    del files['data/nyu2_test.csv']
    with pytest.raises(NYUFormatError, match='nyu2_test.csv'):
        NYUCsvSource(write_nyu_zip(tmp_path / 'nyu2.zip', files), 'test')


def _labeled(tmp_path, n=4, h=6, w=8):
    """MATLAB-shaped arrays with a different value at every (row, column, image) and the .mat holding them."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(h, w, 3, n), dtype=np.uint8)
    rows, cols, imgs = np.meshgrid(np.arange(h), np.arange(w), np.arange(n), indexing='ij')
    depths = (0.5 + rows * 0.1 + cols * 0.01 + imgs * 1.0).astype(np.float32)  # depth(r, c, i) in metres
    return images, depths, write_labeled_mat(tmp_path / 'nyu_depth_v2_labeled.mat', images, depths)


def test_labeled_mat_axis_order_and_values(tmp_path):
    images, depths, mat = _labeled(tmp_path)
    source = NYUMatSource(mat, 'all')
    assert len(source) == 4
    for i in range(4):
        sample = source.load(i)
        assert sample.rgb.shape == (6, 8, 3) and sample.depth.shape == (6, 8)  # H x W, not transposed
        np.testing.assert_array_equal(sample.rgb, images[..., i])
        np.testing.assert_array_equal(sample.depth, depths[..., i])
        assert sample.depth[2, 5] == pytest.approx(0.5 + 0.2 + 0.05 + i)  # row 2, column 5


@pytest.mark.parametrize('kind', ['mat', 'txt'])
def test_labeled_mat_official_split(tmp_path, kind):
    images, depths, mat = _labeled(tmp_path)
    if kind == 'mat':  # splits.mat as NYU ships it: 1-based column vectors (MATLAB v5)
        split = tmp_path / 'splits.mat'
        scipy.io.savemat(split, {'trainNdxs': np.array([[1], [3]], np.float64),
                                 'testNdxs': np.array([[2], [4]], np.float64)})
    else:
        split = tmp_path / 'test_indices.txt'
        split.write_text('2\n4\n')
    assert read_split_indices(split, 'test') == [1, 3]
    test = NYUMatSource(mat, 'test', split)
    assert [s.name for s in (test.load(0), test.load(1))] == ['nyu_labeled_0002', 'nyu_labeled_0004']
    np.testing.assert_array_equal(test.load(1).depth, depths[..., 3])
    if kind == 'mat':
        train = NYUMatSource(mat, 'train', split)
        np.testing.assert_array_equal(train.load(1).rgb, images[..., 2])


def test_labeled_mat_needs_a_split_file_and_the_right_layout(tmp_path):
    _, _, mat = _labeled(tmp_path)
    with pytest.raises(NYUFormatError, match='splits.mat'):
        NYUMatSource(mat, 'test')
    bad = tmp_path / 'bad.txt'
    bad.write_text('1\n99\n')
    with pytest.raises(NYUFormatError, match='outside'):
        NYUMatSource(mat, 'test', bad)
    import h5py

    with h5py.File(tmp_path / 'other.mat', 'w') as f:
        f['images'] = np.zeros((2, 6, 8, 3), np.uint8)  # N x H x W x 3: not the labeled.mat layout
        f['depths'] = np.zeros((2, 6, 8), np.float32)
    with pytest.raises(NYUFormatError, match='layout'):
        NYUMatSource(tmp_path / 'other.mat', 'all')
