//! Cairo serialization: how each ABI type is laid out as field elements.

use starknet_core::types::{Call, Felt};

use crate::errors::AbiError;

/// A type with a Cairo (`Serde`) encoding.
pub trait CairoSerde: Sized {
    /// Appends the encoding of `self` to `out`.
    fn cairo_serialize(&self, out: &mut Vec<Felt>);

    /// Decodes a value starting at `offset`; returns it and the number of felts consumed.
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError>;

    /// The encoding of `self` as a new vector.
    fn to_felts(&self) -> Vec<Felt> {
        let mut out = Vec::new();
        self.cairo_serialize(&mut out);
        out
    }

    /// Decodes a value that must use every felt given.
    fn from_felts(felts: &[Felt]) -> Result<Self, AbiError> {
        let (value, used) = Self::cairo_deserialize(felts, 0)?;
        if used != felts.len() {
            return Err(AbiError::Class(format!(
                "{} trailing felts after value",
                felts.len() - used
            )));
        }
        Ok(value)
    }
}

pub(crate) fn felt_at(felts: &[Felt], offset: usize) -> Result<Felt, AbiError> {
    felts
        .get(offset)
        .copied()
        .ok_or(AbiError::CalldataTooShort {
            needed: 1,
            offset,
            available: felts.len().saturating_sub(offset),
        })
}

impl CairoSerde for Felt {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        out.push(*self);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        Ok((felt_at(felts, offset)?, 1))
    }
}

macro_rules! unsigned_serde {
    ($($ty:ty),*) => {$(
        impl CairoSerde for $ty {
            fn cairo_serialize(&self, out: &mut Vec<Felt>) {
                out.push(Felt::from(*self));
            }
            fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
                let value = felt_at(felts, offset)?;
                let parsed = <$ty>::try_from(value)
                    .map_err(|_| AbiError::OutOfRange { value, ty: stringify!($ty) })?;
                Ok((parsed, 1))
            }
        }
    )*};
}
unsigned_serde!(u8, u32, u64, u128);

impl CairoSerde for bool {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        out.push(if *self { Felt::ONE } else { Felt::ZERO });
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let value = felt_at(felts, offset)?;
        match value {
            v if v == Felt::ZERO => Ok((false, 1)),
            v if v == Felt::ONE => Ok((true, 1)),
            _ => Err(AbiError::OutOfRange { value, ty: "bool" }),
        }
    }
}

impl<T: CairoSerde> CairoSerde for Vec<T> {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        out.push(Felt::from(self.len()));
        for item in self {
            item.cairo_serialize(out);
        }
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let (len, mut used) = u32::cairo_deserialize(felts, offset)?;
        // Each item takes at least one felt: a length beyond the input is malformed, not a
        // reason to allocate.
        if len as usize > felts.len().saturating_sub(offset + 1) {
            return Err(AbiError::CalldataTooShort {
                needed: len as usize,
                offset: offset + 1,
                available: felts.len().saturating_sub(offset + 1),
            });
        }
        let mut items = Vec::with_capacity(len as usize);
        for _ in 0..len {
            let (item, n) = T::cairo_deserialize(felts, offset + used)?;
            used += n;
            items.push(item);
        }
        Ok((items, used))
    }
}

impl CairoSerde for Call {
    fn cairo_serialize(&self, out: &mut Vec<Felt>) {
        out.push(self.to);
        out.push(self.selector);
        self.calldata.cairo_serialize(out);
    }
    fn cairo_deserialize(felts: &[Felt], offset: usize) -> Result<(Self, usize), AbiError> {
        let to = felt_at(felts, offset)?;
        let selector = felt_at(felts, offset + 1)?;
        let (calldata, n) = Vec::<Felt>::cairo_deserialize(felts, offset + 2)?;
        Ok((
            Call {
                to,
                selector,
                calldata,
            },
            2 + n,
        ))
    }
}
