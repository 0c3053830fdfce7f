"""TensorFlow checkpoints (the V2 tensor bundle) read as numpy arrays, with or without TensorFlow.

DeepMind's ``kinetics-i3d`` checkpoints (``data/checkpoints/rgb_imagenet/model.ckpt``,
``flow_imagenet``, ...) are TensorFlow 1 checkpoints in the V2 bundle format:
``<prefix>.index`` is a table of the variables and ``<prefix>.data-00000-of-00001``
holds their raw bytes. :func:`read_variables` reads them through
``tf.train.load_checkpoint`` when TensorFlow is installed, else (or with
``reader="numpy"``) with the reader of this module, which needs numpy only.

The format, as TensorFlow writes it (``tensorflow/core/util/tensor_bundle``):
the index is a LevelDB-style table (blocks of prefix-compressed keys with a
restart array, each followed by a 5-byte trailer: compression type and
CRC32C; an index block of block handles; a 48-byte footer that ends with the
magic number ``0xdb4775248b80fb57``); every key is a variable's name and every
value a ``BundleEntryProto`` (dtype, shape, shard, offset, size, CRC32C), the
empty key a ``BundleHeaderProto`` (number of shards, endianness). The numpy
reader checks each array's size against its shape and dtype but not its
CRC32C (TensorFlow's reader does); it refuses compressed blocks, big-endian
bundles and partitioned (sliced) variables, none of which DeepMind's
checkpoints hold.
"""

from __future__ import annotations

import importlib.util
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["checkpoint_prefix", "list_variables", "read_variables", "READERS"]

READERS = ("auto", "tensorflow", "numpy")
_MAGIC = 0xDB4775248B80FB57
#: TensorFlow's DataType enum -> numpy (the types a model's variables have)
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
           9: np.int64, 10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}


def checkpoint_prefix(path) -> str:
    """The checkpoint's prefix (``.../model.ckpt``) from the prefix, its ``.index`` or data file, or its folder.

    A folder is resolved through its ``checkpoint`` file (``model_checkpoint_path``)
    or its one ``*.index`` file.

    Raises
    ------
    FileNotFoundError
        No checkpoint there (the message says what was looked for).
    """
    path = Path(path)
    if path.is_dir():
        state = path / "checkpoint"
        if state.is_file():
            for line in state.read_text().splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "model_checkpoint_path":
                    found = Path(value.strip().strip('"'))
                    return checkpoint_prefix(found if found.is_absolute() else path / found)
        indexes = sorted(path.glob("*.index"))
        if len(indexes) != 1:
            raise FileNotFoundError(f"{path}: expected one TensorFlow checkpoint (a 'checkpoint' "
                                    f"file or one *.index file), found {len(indexes)} *.index files")
        path = indexes[0]
    text = str(path)
    for suffix in (".index", ".data-"):
        if suffix in path.name:
            text = text[: text.rindex(suffix)]
    if not os.path.isfile(text + ".index"):
        raise FileNotFoundError(f"no TensorFlow checkpoint at {path}: {text}.index does not exist "
                                "(give the prefix, e.g. data/checkpoints/rgb_imagenet/model.ckpt)")
    return text


def _reader_name(reader: str) -> str:
    if reader not in READERS:
        raise ValueError(f"reader is one of {', '.join(READERS)}, got {reader!r}")
    if reader == "auto":
        return "tensorflow" if importlib.util.find_spec("tensorflow") is not None else "numpy"
    return reader


def list_variables(path, *, reader="auto") -> dict:
    """``{variable name: shape}`` of a checkpoint (``reader``: ``"auto"``, ``"tensorflow"`` or ``"numpy"``)."""
    prefix = checkpoint_prefix(path)
    if _reader_name(reader) == "tensorflow":
        import tensorflow as tf

        shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
        return {name: tuple(int(d) for d in shape) for name, shape in shapes.items()}
    return {name: entry["shape"] for name, entry in _Bundle(prefix).entries.items()}


def read_variables(path, names, *, reader="auto") -> dict:
    """``{name: numpy array}`` of the variables ``names`` of a checkpoint.

    Parameters
    ----------
    path : str or os.PathLike
        The prefix, its ``.index`` file or its folder (:func:`checkpoint_prefix`).
    names : iterable of str
        Variables to read (:func:`list_variables` lists them).
    reader : {"auto", "tensorflow", "numpy"}
        ``"auto"``: TensorFlow's ``tf.train.load_checkpoint`` when TensorFlow is
        installed, else this module's numpy reader.

    Raises
    ------
    KeyError
        A name the checkpoint lacks.
    ValueError
        A corrupt or unsupported file (the numpy reader says which).
    """
    prefix = checkpoint_prefix(path)
    if _reader_name(reader) == "tensorflow":
        import tensorflow as tf

        tf_reader = tf.train.load_checkpoint(prefix)
        return {name: np.asarray(tf_reader.get_tensor(name)) for name in names}
    bundle = _Bundle(prefix)
    return {name: bundle.read(name) for name in names}


def _varint(buf, pos):
    """``(value, next position)`` of the base-128 varint at ``pos``."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """``(field number, value)`` of a protobuf message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, value


def _block_entries(block):
    """``(key, value)`` of one table block: prefix-compressed keys, then the restart array."""
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end, pos, key = len(block) - 4 - 4 * restarts, 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        size, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + size]
        pos += size


class _Bundle:
    """The numpy reader of one checkpoint: its entries from the index, arrays from the data files."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        index = Path(prefix + ".index").read_bytes()
        if len(index) < 48 or struct.unpack_from("<Q", index, len(index) - 8)[0] != _MAGIC:
            raise ValueError(f"{prefix}.index is not a TensorFlow checkpoint index (no table magic)")
        _, pos = _varint(index, len(index) - 48)  # the meta-index handle, unused
        _, pos = _varint(index, pos)
        self.entries, self.shards = {}, 1
        for _, handle in _block_entries(self._block(index, index[pos:len(index) - 8])):
            for key, value in _block_entries(self._block(index, handle)):
                if key:
                    self.entries[key.decode()] = self._entry(value)
                else:
                    header = dict(_fields(value))
                    self.shards = header.get(1, 1)
                    if header.get(2, 0) != 0:
                        raise ValueError(f"{prefix}: a big-endian checkpoint (not supported)")

    def _block(self, index, handle):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        if offset + size + 5 > len(index):
            raise ValueError(f"{self.prefix}.index is truncated or corrupt")
        if index[offset + size] != 0:
            raise ValueError(f"{self.prefix}.index has compressed blocks (not supported: read it "
                             "with TensorFlow)")
        return index[offset:offset + size]

    @staticmethod
    def _entry(value) -> dict:
        entry = {"dtype": 0, "shape": (), "shard": 0, "offset": 0, "size": 0, "sliced": False}
        for field, item in _fields(value):
            if field == 2:
                entry["shape"] = tuple(dict(_fields(dim)).get(1, 0)
                                       for number, dim in _fields(item) if number == 2)
            elif field == 7:
                entry["sliced"] = True
            elif field in (1, 3, 4, 5):
                entry[{1: "dtype", 3: "shard", 4: "offset", 5: "size"}[field]] = item
        return entry

    def read(self, name: str) -> np.ndarray:
        if name not in self.entries:
            raise KeyError(f"{self.prefix} has no variable {name!r}")
        entry = self.entries[name]
        if entry["sliced"] or entry["dtype"] not in _DTYPES:
            raise ValueError(f"{self.prefix}: {name} is partitioned or of TensorFlow dtype "
                             f"{entry['dtype']} (not supported: read it with TensorFlow)")
        dtype = np.dtype(_DTYPES[entry["dtype"]]).newbyteorder("<")
        if entry["size"] != dtype.itemsize * int(np.prod(entry["shape"], dtype=np.int64)):
            raise ValueError(f"{self.prefix}: {name} holds {entry['size']} bytes, not a "
                             f"{dtype} array of shape {entry['shape']}")
        data = f"{self.prefix}.data-{entry['shard']:05d}-of-{self.shards:05d}"
        try:
            with open(data, "rb") as f:
                f.seek(entry["offset"])
                raw = f.read(entry["size"])
        except FileNotFoundError:
            raise FileNotFoundError(f"the checkpoint's data file {data} is missing") from None
        if len(raw) != entry["size"]:
            raise ValueError(f"{data} is truncated: {name} needs bytes up to "
                             f"{entry['offset'] + entry['size']}")
        return np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))\
            .reshape(entry["shape"])
