"""Data frame support for memokey's encoder (internal).

memokey._core calls :func:`frame_class_id` once per class whose module is
pandas, polars or pyarrow, and :func:`describe` for every such object it
encodes (docs/FORMAT.md §4.3). ``describe`` only takes the object apart into
columns -- the bytes of every column (its values, validity bitmap, string
offsets and data) are read and canonicalized in C++ (src/frames.cc), straight
from the numpy or Arrow buffers, without a Python object per cell.

Nothing here imports pandas, polars or pyarrow: the classes are looked up in
``sys.modules``, so an object of one of them can only exist once its library
is imported.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

# A column, as the C++ side reads it (the first item says how; the label
# names it in error paths, None for the one column of a Series or array):
#   ("fixed" | "float" | "bool", label, type, ndarray, mask ndarray or None)
#       a 1-D numpy array of a fixed-width little-endian dtype ("float":
#       NaNs are canonicalized; "bool": one byte per value, 0 or 1); mask:
#       numpy bool, True where the value is missing (pandas masked dtypes).
#   ("range", label, type, start, step, length)   a RangeIndex (int64 values)
#   ("arrow", label, type, obj)     obj exports __arrow_c_stream__ / __arrow_c_array__
#   ("strings", label, type, ndarray)   an object array of str and missing values
#   ("objects", label, type, obj)   the values as Python objects: C++ calls
#                                   to_objects(obj) and encodes each element
Column = tuple[Any, ...]


def _cls(module: str, name: str) -> Optional[type]:
    mod = sys.modules.get(module)
    return getattr(mod, name, None) if mod is not None else None


def frame_class_id(cls: type) -> Optional[str]:
    """The class id ``cls`` is encoded under (FORMAT.md §4.3), or None when
    it is not one of the supported frame classes (it then takes the generic
    path). Subclasses defined outside the libraries are not frames: their
    extra state would be lost."""
    module = getattr(cls, "__module__", "") or ""
    top = module.split(".", 1)[0]
    if top == "pandas":
        for name in ("DataFrame", "Series"):
            c = _cls("pandas", name)
            if c is not None and cls is c:
                return "pandas:" + name
        mi = _cls("pandas", "MultiIndex")
        if mi is not None and cls is mi:
            return "pandas:MultiIndex"
        index = _cls("pandas", "Index")
        if index is not None and isinstance(cls, type) and issubclass(cls, index):
            return "pandas:Index"  # RangeIndex, DatetimeIndex, ...: the dtype tells them apart
    elif top == "polars":
        for name in ("DataFrame", "Series"):
            c = _cls("polars", name)
            if c is not None and cls is c:
                return "polars:" + name
    elif top == "pyarrow":
        for name in ("Table", "RecordBatch", "ChunkedArray"):
            c = _cls("pyarrow", name)
            if c is not None and cls is c:
                return "pyarrow:" + name
        array = _cls("pyarrow", "Array")
        if array is not None and isinstance(cls, type) and issubclass(cls, array) and module == "pyarrow.lib":
            return "pyarrow:Array"  # Int64Array, StringArray, ...: the type tells them apart
    return None


def describe(obj: Any, class_id: str) -> tuple[Any, Any, list[Column]]:
    """(index, labels, columns) of a frame-like object.

    index: a pandas Index (encoded in turn) or None; labels: the column
    labels -- a pandas Index for a DataFrame, else a list (the Series name,
    the Index names, the column names)."""
    if class_id == "pandas:DataFrame":
        labels = obj.columns
        columns = [_pandas_column(obj.iloc[:, i], labels[i]) for i in range(obj.shape[1])]
        return obj.index, obj.columns, columns
    if class_id == "pandas:Series":
        return obj.index, [obj.name], [_pandas_column(obj, None)]
    if class_id == "pandas:Index":
        return None, list(obj.names), [_pandas_column(obj, None)]
    if class_id == "pandas:MultiIndex":
        levels = [_pandas_column(obj.get_level_values(i), i) for i in range(obj.nlevels)]
        return None, list(obj.names), levels
    if class_id == "polars:DataFrame":
        names = obj.columns
        return None, names, [_polars_column(obj.to_series(i), names[i]) for i in range(len(names))]
    if class_id == "polars:Series":
        return None, [obj.name], [_polars_column(obj, None)]
    if class_id in ("pyarrow:Table", "pyarrow:RecordBatch"):
        names = obj.schema.names
        return None, names, [("arrow", names[i], str(obj.column(i).type), obj.column(i)) for i in range(len(names))]
    if class_id in ("pyarrow:ChunkedArray", "pyarrow:Array"):
        return None, [], [("arrow", None, str(obj.type), obj)]
    raise TypeError(f"not a frame class: {class_id}")


def _pandas_column(col: Any, label: Any) -> Column:
    """The column spec of a pandas Series or Index (its values and dtype)."""
    np = sys.modules["numpy"]
    dtype = col.dtype
    text = str(dtype)
    rng = _cls("pandas", "RangeIndex")
    if rng is not None and isinstance(col, rng):
        return ("range", label, text, col.start, col.step, len(col))
    arr = col.array
    if isinstance(dtype, np.dtype):
        kind = dtype.kind
        if kind in "iufbmM":
            # datetime64/timedelta64 (tz-naive or the UTC values of an aware
            # column) are int64 counts; NaT is one int64 value.
            data = getattr(arr, "_ndarray", None)
            if data is None:
                data = np.asarray(arr)
            if kind in "mM":
                data = data.view("i8")
            data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
            return ("float" if kind == "f" else "bool" if kind == "b" else "fixed", label, text, data, None)
        return ("objects", label, text, col)  # object, complex, str_ (numpy U/S), void
    storage = getattr(dtype, "storage", None)
    if getattr(dtype, "kind", None) in ("M", "m") and hasattr(arr, "_ndarray"):  # tz-aware
        return ("fixed", label, text, np.ascontiguousarray(arr._ndarray.view("i8")), None)
    if hasattr(arr, "__arrow_array__") and hasattr(arr, "_pa_array"):  # Arrow-backed (str, ArrowDtype)
        return ("arrow", label, text, arr._pa_array)
    if storage == "python" and hasattr(arr, "_ndarray"):  # StringDtype("python")
        return ("strings", label, text, arr._ndarray)
    data, mask = getattr(arr, "_data", None), getattr(arr, "_mask", None)
    if isinstance(data, np.ndarray) and isinstance(mask, np.ndarray) and data.dtype.kind in "iufb":
        kind = data.dtype.kind
        data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
        return ("float" if kind == "f" else "bool" if kind == "b" else "fixed", label, text, data, np.ascontiguousarray(mask))
    return ("objects", label, text, col)


def _polars_column(s: Any, label: Any) -> Column:
    return ("arrow", label, str(s.dtype), s)


def to_objects(obj: Any) -> list[Any]:
    """The values of a column whose type has no buffer encoding, as Python objects."""
    to_pylist = getattr(obj, "to_pylist", None)  # pyarrow
    if to_pylist is not None:
        return to_pylist()
    np = sys.modules.get("numpy")
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(obj, (pandas.Series, pandas.Index)):
        return list(obj.to_numpy(dtype=object)) if np is not None else obj.tolist()
    return obj.to_list()  # polars
