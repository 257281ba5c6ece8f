//! The incoming array: one contiguous C-order buffer (or a list of strings) plus its
//! shape, and the lossless cast of it to the stored dtype.

use std::borrow::Cow;

use crate::dtype::DType;
use crate::error::{Result, SaveError};

/// The elements of an incoming array, C order.
#[derive(Debug, Clone)]
pub enum Elements<'a> {
    /// Little-endian fixed-size elements, borrowed from JS memory when possible.
    Fixed {
        dtype: DType,
        bytes: Cow<'a, [u8]>,
    },
    Strings(Vec<String>),
}

/// An N-d array handed over by the facade.
#[derive(Debug, Clone)]
pub struct NdData<'a> {
    pub elements: Elements<'a>,
    pub shape: Vec<u64>,
}

impl<'a> NdData<'a> {
    /// Check that the buffer holds exactly `prod(shape)` elements of its dtype.
    pub fn new(elements: Elements<'a>, shape: Vec<u64>) -> Result<Self> {
        if shape.is_empty() {
            return Err(SaveError::InvalidData(
                "data must have at least one dimension".into(),
            ));
        }
        if shape.contains(&0) {
            return Err(SaveError::InvalidData(format!(
                "data is empty (shape {shape:?}); nothing to save"
            )));
        }
        let count = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        let count =
            count.ok_or_else(|| SaveError::InvalidData(format!("shape {shape:?} is too large")))?;
        let len = match &elements {
            Elements::Fixed { dtype, bytes } => {
                let size = dtype.size().expect("fixed dtype") as u64;
                if !(bytes.len() as u64).is_multiple_of(size) {
                    return Err(SaveError::InvalidData(format!(
                        "a {} buffer must hold a whole number of {size}-byte elements; got {} bytes",
                        dtype.name(),
                        bytes.len()
                    )));
                }
                bytes.len() as u64 / size
            }
            Elements::Strings(s) => s.len() as u64,
        };
        if len != count {
            return Err(SaveError::InvalidData(format!(
                "shape {shape:?} needs {count} elements but the buffer holds {len}"
            )));
        }
        Ok(Self { elements, shape })
    }

    pub fn dtype(&self) -> DType {
        match &self.elements {
            Elements::Fixed { dtype, .. } => *dtype,
            Elements::Strings(_) => DType::String,
        }
    }

    pub fn num_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// The same data stored as `target`, or `DtypeMismatch` naming the first value that
    /// would change. No copy when the dtype already matches.
    pub fn cast(self, target: DType) -> Result<NdData<'a>> {
        let source = self.dtype();
        if source == target {
            return Ok(self);
        }
        let Elements::Fixed { bytes, .. } = &self.elements else {
            return Err(mismatch_kind(source, target));
        };
        if target == DType::String {
            return Err(mismatch_kind(source, target));
        }
        let bytes = cast_fixed(bytes, source, target)?;
        Ok(NdData {
            elements: Elements::Fixed {
                dtype: target,
                bytes: Cow::Owned(bytes),
            },
            shape: self.shape,
        })
    }
}

fn mismatch_kind(source: DType, target: DType) -> SaveError {
    SaveError::DtypeMismatch(format!(
        "cannot store {} data in a {} array",
        source.name(),
        target.name()
    ))
}

/// A value on its way between two numeric types: exact integers or a double.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A fixed-size element type that converts through [`Num`] and refuses inexact results.
trait Scalar: bytemuck::Pod {
    fn to_num(self) -> Num;
    fn from_num(n: Num) -> Option<Self>;
}

macro_rules! int_scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            fn to_num(self) -> Num { Num::Int(self as i128) }
            fn from_num(n: Num) -> Option<Self> {
                match n {
                    Num::Int(i) => <$t>::try_from(i).ok(),
                    // 2^127 bounds the exact range of an i128 conversion.
                    Num::Float(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1.7e38 => <$t>::try_from(x as i128).ok(),
                    Num::Float(_) => None,
                }
            }
        }
    )*};
}
int_scalar!(i8, i16, i32, i64, u8, u16, u32, u64);

impl Scalar for f64 {
    fn to_num(self) -> Num {
        Num::Float(self)
    }
    fn from_num(n: Num) -> Option<Self> {
        match n {
            Num::Int(i) => {
                let x = i as f64;
                // x may round up to 2^63 or 2^64, which no i128 misreads.
                (x as i128 == i).then_some(x)
            }
            Num::Float(x) => Some(x),
        }
    }
}

impl Scalar for f32 {
    fn to_num(self) -> Num {
        Num::Float(self as f64)
    }
    fn from_num(n: Num) -> Option<Self> {
        match n {
            Num::Int(i) => {
                let x = i as f32;
                (x as i128 == i).then_some(x)
            }
            Num::Float(x) => {
                let y = x as f32;
                (y as f64 == x || x.is_nan()).then_some(y)
            }
        }
    }
}

/// Booleans travel as one byte, 0 or 1.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
struct BoolByte(u8);

impl Scalar for BoolByte {
    fn to_num(self) -> Num {
        Num::Int(i128::from(self.0 != 0))
    }
    fn from_num(n: Num) -> Option<Self> {
        match n {
            Num::Int(0) => Some(BoolByte(0)),
            Num::Int(1) => Some(BoolByte(1)),
            Num::Float(0.0) => Some(BoolByte(0)),
            Num::Float(1.0) => Some(BoolByte(1)),
            _ => None,
        }
    }
}

fn cast_slice<S: Scalar, T: Scalar>(src: &[u8], target: DType) -> Result<Vec<u8>> {
    let count = src.len() / std::mem::size_of::<S>();
    let mut out = vec![0u8; count * std::mem::size_of::<T>()];
    let out_elems: &mut [T] = bytemuck::cast_slice_mut(&mut out);
    for (i, (chunk, slot)) in src
        .chunks_exact(std::mem::size_of::<S>())
        .zip(out_elems.iter_mut())
        .enumerate()
    {
        let value = bytemuck::pod_read_unaligned::<S>(chunk).to_num();
        *slot = T::from_num(value).ok_or_else(|| {
            SaveError::DtypeMismatch(format!(
                "value {value} at flat index {i} cannot be stored as {} without loss",
                target.name()
            ))
        })?;
    }
    Ok(out)
}

macro_rules! dispatch_target {
    ($S:ty, $src:expr, $target:expr) => {
        match $target {
            DType::Bool => cast_slice::<$S, BoolByte>($src, $target),
            DType::Int8 => cast_slice::<$S, i8>($src, $target),
            DType::Int16 => cast_slice::<$S, i16>($src, $target),
            DType::Int32 => cast_slice::<$S, i32>($src, $target),
            DType::Int64 => cast_slice::<$S, i64>($src, $target),
            DType::UInt8 => cast_slice::<$S, u8>($src, $target),
            DType::UInt16 => cast_slice::<$S, u16>($src, $target),
            DType::UInt32 => cast_slice::<$S, u32>($src, $target),
            DType::UInt64 => cast_slice::<$S, u64>($src, $target),
            DType::Float32 => cast_slice::<$S, f32>($src, $target),
            DType::Float64 => cast_slice::<$S, f64>($src, $target),
            DType::String => unreachable!("strings are rejected before dispatch"),
        }
    };
}

fn cast_fixed(src: &[u8], source: DType, target: DType) -> Result<Vec<u8>> {
    match source {
        DType::Bool => dispatch_target!(BoolByte, src, target),
        DType::Int8 => dispatch_target!(i8, src, target),
        DType::Int16 => dispatch_target!(i16, src, target),
        DType::Int32 => dispatch_target!(i32, src, target),
        DType::Int64 => dispatch_target!(i64, src, target),
        DType::UInt8 => dispatch_target!(u8, src, target),
        DType::UInt16 => dispatch_target!(u16, src, target),
        DType::UInt32 => dispatch_target!(u32, src, target),
        DType::UInt64 => dispatch_target!(u64, src, target),
        DType::Float32 => dispatch_target!(f32, src, target),
        DType::Float64 => dispatch_target!(f64, src, target),
        DType::String => unreachable!("strings are rejected before dispatch"),
    }
}

/// `values` as float64 data of `shape`, for tests.
#[cfg(test)]
pub(crate) fn f64s(values: &[f64], shape: Vec<u64>) -> NdData<'static> {
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let elements = Elements::Fixed {
        dtype: crate::dtype::DType::Float64,
        bytes: std::borrow::Cow::Owned(bytes),
    };
    NdData::new(elements, shape).expect("the shape holds the values")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64_data(values: &[f64]) -> NdData<'static> {
        let bytes = bytemuck::cast_slice(values).to_vec();
        NdData::new(
            Elements::Fixed {
                dtype: DType::Float64,
                bytes: Cow::Owned(bytes),
            },
            vec![values.len() as u64],
        )
        .unwrap()
    }

    fn cast_err(values: &[f64], target: DType) -> String {
        f64_data(values).cast(target).unwrap_err().to_string()
    }

    #[test]
    fn integral_doubles_cast_to_integers() {
        let out = f64_data(&[1.0, -2.0, 3.0]).cast(DType::Int32).unwrap();
        let Elements::Fixed { bytes, .. } = out.elements else {
            panic!()
        };
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&bytes), &[1, -2, 3]);
    }

    #[test]
    fn lossy_casts_are_refused_with_the_value() {
        assert!(cast_err(&[1.0, 1.5], DType::Int32).contains("value 1.5 at flat index 1"));
        assert!(cast_err(&[300.0], DType::UInt8).contains("300"));
        assert!(cast_err(&[-1.0], DType::UInt64).contains("-1"));
        assert!(cast_err(&[f64::NAN], DType::Int64).contains("NaN"));
        assert!(cast_err(&[0.1], DType::Float32).contains("float32"));
        assert!(cast_err(&[2.0], DType::Bool).contains("bool"));
        let big = (1u64 << 60) as f64 + 256.0 * 1024.0;
        assert!(cast_err(&[big], DType::Float32).contains("float32"));
    }

    #[test]
    fn exact_float32_values_and_nan_pass() {
        let out = f64_data(&[0.5, f64::NAN, f64::INFINITY, (1u64 << 60) as f64])
            .cast(DType::Float32)
            .unwrap();
        let Elements::Fixed { bytes, .. } = out.elements else {
            panic!()
        };
        let v = bytemuck::cast_slice::<u8, f32>(&bytes);
        assert_eq!(v[0], 0.5);
        assert!(v[1].is_nan());
        assert_eq!(v[3], (1u64 << 60) as f32);
    }

    #[test]
    fn int64_beyond_2_53_is_not_a_double() {
        let bytes = bytemuck::cast_slice(&[(1i64 << 53) + 1]).to_vec();
        let data = NdData::new(
            Elements::Fixed {
                dtype: DType::Int64,
                bytes: Cow::Owned(bytes),
            },
            vec![1],
        )
        .unwrap();
        assert!(data.cast(DType::Float64).is_err());
    }

    #[test]
    fn strings_never_become_numbers() {
        let data = NdData::new(Elements::Strings(vec!["a".into()]), vec![1]).unwrap();
        assert_eq!(
            data.cast(DType::Float64).unwrap_err().code(),
            "ERR_ZARR_DTYPE_MISMATCH"
        );
    }

    #[test]
    fn shape_must_match_buffer() {
        let err = NdData::new(Elements::Strings(vec!["a".into()]), vec![2]).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_DATA");
    }
}
