"""NYU Depth v2 in the two layouts people have, as RGB-D sources in metres.

1. The CSV layout of DenseDepth's ``nyu_data.zip`` (what the original project trained on), used extracted or straight
   from the zip. ``data/nyu2_train.csv`` and ``data/nyu2_test.csv`` hold rows ``RGB path,depth PNG path`` relative to
   the zip root. The two splits store depth differently (checked against DenseDepth's own loaders):
   - train (50,688 pairs, ``data/nyu2_train/<scene>/<n>.jpg`` + ``<n>.png``): 8-bit PNG, ``metres = value / 255 * 10``
     (DenseDepth's PyTorch loader reads it as ``value / 255 * 1000`` cm, its Keras loader the same);
   - test (654 pairs, ``data/nyu2_test/<n>_colors.png`` + ``<n>_depth.png``): 16-bit PNG in millimetres
     (DenseDepth's Keras test loader divides by 10 to get cm).
   This module decodes by the PNG's bit depth (uint8 -> /255*10 m, uint16 -> mm), so either split or a mixed CSV works.
   A value of 0 means no measurement.
2. The official ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5). Read with h5py, MATLAB's column-major arrays
   appear transposed: ``images`` is ``N x 3 x W x H`` uint8 and ``depths`` ``N x W x H`` float metres (N = 1449,
   W = 640, H = 480), so an image is ``images[i].transpose(2, 1, 0)`` and its depth ``depths[i].T``.
   The official train/test split (795/654 images) is in ``splits.mat`` (``trainNdxs``/``testNdxs``, 1-based), shipped
   beside the labeled .mat on the NYU site; it is not bundled here, so give it with ``split_file`` (a ``splits.mat``
   in either MATLAB format, or a text file of 1-based indices).
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from jdd_ros.depth.datasets import RGBDSample

NYU_MAX_DEPTH = 10.0  # metres represented by 255 in the 8-bit train PNGs
NYU_TEST_COUNT = 654
SPLITS_URL = 'http://horatio.cs.nyu.edu/mit/silberman/indoor_seg_sup/splits.mat'


class NYUFormatError(ValueError):
    """Files that are not in the NYU layout this loader expects; the text says what was found."""


def decode_depth_png(data: bytes, name: str = 'depth') -> np.ndarray:
    """NYU CSV-layout depth PNG bytes -> float32 metres (0 = invalid), chosen by bit depth (see module doc)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise NYUFormatError(f'{name}: not a readable image')
    if img.ndim == 3:  # some re-encodes store grey as 3 equal channels
        img = img[..., 0]
    if img.dtype == np.uint8:
        return img.astype(np.float32) * np.float32(NYU_MAX_DEPTH / 255.0)
    if img.dtype == np.uint16:
        return img.astype(np.float32) / np.float32(1000.0)
    raise NYUFormatError(f'{name}: depth PNG of type {img.dtype}; expected 8-bit (train) or 16-bit mm (test)')


def decode_rgb(data: bytes, name: str = 'image') -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise NYUFormatError(f'{name}: not a readable image')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class NYUCsvSource:
    """``split`` ('train' or 'test') of the CSV layout at ``location``: the zip, its extracted directory, or a CSV file.

    The zip is opened lazily in each process (DataLoader workers must not share one file handle).
    """

    def __init__(self, location: str | os.PathLike, split: str = 'train'):
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got '{split}'")
        self.location = Path(location)
        self.split = split
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = -1
        if not self.location.exists():
            raise FileNotFoundError(f'NYU data {self.location} not found (expected nyu_data.zip, its extracted '
                                    'directory, or data/nyu2_train.csv / data/nyu2_test.csv)')
        if zipfile.is_zipfile(self.location):
            self.is_zip = True
            self.root = None
            names = set(self._archive().namelist())
            wanted = f'data/nyu2_{split}.csv'
            csv_name = wanted if wanted in names else next(
                (n for n in sorted(names) if n.endswith(f'nyu2_{split}.csv')), None)
            if csv_name is None:
                raise NYUFormatError(f'{self.location}: no {wanted} inside the zip (is this nyu_data.zip?)')
            self.prefix = csv_name[: -len(wanted)] if csv_name.endswith(wanted) else ''
            text = self._archive().read(csv_name).decode('utf-8')
        else:
            self.is_zip = False
            if self.location.is_dir():
                csv_path = self.location / 'data' / f'nyu2_{split}.csv'
                self.root = self.location
            else:  # a CSV file: for the other split of nyu_data.zip's layout, its sibling nyu2_<split>.csv
                csv_path = self.location
                sibling = csv_path.parent / f'nyu2_{split}.csv'
                if csv_path.name in ('nyu2_train.csv', 'nyu2_test.csv') and sibling.is_file():
                    csv_path = sibling
                self.root = csv_path.parent.parent if csv_path.parent.name == 'data' else csv_path.parent
            if not csv_path.is_file():
                raise NYUFormatError(f'{csv_path} not found (expected the extracted nyu_data.zip layout)')
            text = csv_path.read_text(encoding='utf-8')
        self.csv_name = f'{self.location}!{csv_name}' if self.is_zip else str(csv_path.resolve())
        self.rows = [(r[0].strip(), r[1].strip()) for r in csv.reader(io.StringIO(text)) if len(r) >= 2 and r[0]]
        if not self.rows:
            raise NYUFormatError(f'{self.location}: the nyu2_{split}.csv has no "RGB path,depth path" rows')

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.location)
            self._zip_pid = os.getpid()
        return self._zip

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state['_zip'] = None
        return state

    def _read(self, rel: str) -> bytes:
        if self.is_zip:
            try:
                return self._archive().read(self.prefix + rel)
            except KeyError:
                raise NYUFormatError(f'{self.location}: {self.prefix + rel} listed in the CSV is not in the zip') \
                    from None
        path = self.root / rel
        if not path.is_file():
            raise NYUFormatError(f'{path} (listed in nyu2_{self.split}.csv) not found')
        return path.read_bytes()

    def __len__(self) -> int:
        return len(self.rows)

    def load(self, index: int) -> RGBDSample:
        rgb_rel, depth_rel = self.rows[index]
        rgb = decode_rgb(self._read(rgb_rel), rgb_rel)
        depth = decode_depth_png(self._read(depth_rel), depth_rel)
        if rgb.shape[:2] != depth.shape:
            raise NYUFormatError(f'{rgb_rel} is {rgb.shape[1]}x{rgb.shape[0]} but {depth_rel} is '
                                 f'{depth.shape[1]}x{depth.shape[0]}')
        return RGBDSample(rgb, depth, rgb_rel)


def read_split_indices(split_file: str | os.PathLike, split: str) -> list[int]:
    """0-based image indices of ``split`` ('train' or 'test') from splits.mat (v5 or v7.3) or a text file of
    1-based indices."""
    path = Path(split_file)
    key = {'train': 'trainNdxs', 'test': 'testNdxs'}[split]
    if path.suffix.lower() == '.mat':
        try:
            import scipy.io

            values = scipy.io.loadmat(path)[key]
        except NotImplementedError:  # MATLAB v7.3 = HDF5
            import h5py

            with h5py.File(path, 'r') as f:
                values = f[key][()]
        except KeyError:
            raise NYUFormatError(f'{path} has no {key} (is it NYU\'s splits.mat?)') from None
        one_based = np.asarray(values).astype(np.int64).ravel()
    else:
        one_based = np.array([int(t) for t in path.read_text().split()], dtype=np.int64)
    if one_based.size == 0 or one_based.min() < 1:
        raise NYUFormatError(f'{path}: split indices must be 1-based (MATLAB) image numbers')
    return [int(i) - 1 for i in one_based]


class NYUMatSource:
    """Images of the official ``nyu_depth_v2_labeled.mat``; ``split`` 'train'/'test' need ``split_file``, 'all' not."""

    def __init__(self, mat_path: str | os.PathLike, split: str = 'test', split_file: str | os.PathLike | None = None,
                 indices: Sequence[int] | None = None):
        import h5py

        self.path = Path(mat_path)
        if not self.path.is_file():
            raise FileNotFoundError(f'{self.path} not found (expected nyu_depth_v2_labeled.mat)')
        try:
            with h5py.File(self.path, 'r') as f:
                if 'images' not in f or 'depths' not in f:
                    raise NYUFormatError(f'{self.path} has no images/depths datasets (is it nyu_depth_v2_labeled.mat?)')
                img_shape, depth_shape = f['images'].shape, f['depths'].shape
        except OSError as exc:
            raise NYUFormatError(f'{self.path} is not an HDF5 (MATLAB v7.3) file: {exc}') from exc
        if len(img_shape) != 4 or img_shape[1] != 3 or depth_shape != (img_shape[0], img_shape[2], img_shape[3]):
            raise NYUFormatError(f'{self.path}: images {img_shape} / depths {depth_shape} do not have the labeled.mat '
                                 'layout (N x 3 x W x H and N x W x H as h5py reads them)')
        self.count = img_shape[0]
        if indices is not None:
            self.indices = [int(i) for i in indices]
        elif split == 'all':
            self.indices = list(range(self.count))
        elif split_file is None:
            raise NYUFormatError(f"the official NYU {split} split needs its indices: pass the splits.mat that comes "
                                 f"with the labeled dataset ({SPLITS_URL}) as the split file, or use split 'all'")
        else:
            self.indices = read_split_indices(split_file, split)
        bad = [i for i in self.indices if not 0 <= i < self.count]
        if bad:
            raise NYUFormatError(f'split indices {bad[:5]} are outside the {self.count} images of {self.path}')
        self.split = split
        self._file = None
        self._pid = -1

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state['_file'] = None
        return state

    def _h5(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, 'r')
            self._pid = os.getpid()
        return self._file

    def __len__(self) -> int:
        return len(self.indices)

    def load(self, index: int) -> RGBDSample:
        i = self.indices[index]
        f = self._h5()
        rgb = np.ascontiguousarray(f['images'][i].transpose(2, 1, 0)).astype(np.uint8)
        depth = np.ascontiguousarray(f['depths'][i].T).astype(np.float32)
        return RGBDSample(rgb, depth, f'nyu_labeled_{i + 1:04d}')
