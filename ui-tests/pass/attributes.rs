// Attributes #[protected] accepts: repr(C) and align, other attributes passed through,
// `crate = "..."`, `#[protected(frozen)]`, raw identifiers, lint attributes.
#![deny(warnings)]

mod reexports {
    pub use siegel as secrets;
}

#[siegel::protected]
#[repr(C)]
pub struct ReprC {
    bytes: [u8; 3],
}

#[siegel::protected]
#[repr(C, align(64))]
pub struct CacheLine {
    bytes: [u8; 3],
}

#[siegel::protected]
#[repr(align(4096))]
pub struct PageAligned {
    bytes: [u8; 3],
}

#[siegel::protected(crate = "crate::reexports::secrets")]
#[allow(clippy::pedantic)]
#[must_use]
#[cfg_attr(all(), doc = "Through a re-export.")]
pub struct Renamed {
    #[allow(clippy::struct_field_names)]
    r#type: u8,
    r#match: [u8; 2],
}

#[siegel::protected]
#[cfg(all())]
pub struct Frozen {
    #[protected(frozen)]
    id: [u8; 4],
    #[siegel::protected(frozen)]
    epoch: u64,
    counter: u64,
}

impl Frozen {
    // Inside the defining module the field itself is visible: this is where a
    // frozen field gets its value.
    fn new(id: [u8; 4]) -> Result<siegel::Protected<Self>, siegel::Error> {
        Self::protect_with(|f| {
            f.id = id;
            f.epoch = 1;
        })
    }
}

#[siegel::protected]
#[cfg(any())]
pub struct Gone {
    bytes: [u8; 3],
}

fn main() -> Result<(), siegel::Error> {
    assert_eq!(core::mem::align_of::<CacheLine>(), 64);
    assert_eq!(core::mem::align_of::<PageAligned>(), 4096);
    assert_eq!(core::mem::size_of::<ReprC>(), 3);
    let page = PageAligned::protect_zeroed()?;
    assert_eq!(page.read()?.bytes(), &[0; 3]);
    let line = CacheLine::protect_zeroed()?;
    assert_eq!(line.info().secret.start % 64, 0);

    let mut renamed = Renamed::protect_zeroed()?;
    *renamed.write()?.type_mut() = 4;
    renamed.write()?.match_mut()[1] = 5;
    assert_eq!(*renamed.read()?.r#type(), 4);
    assert_eq!(renamed.read()?.r#match()[1], 5);

    let mut frozen = Frozen::new([9; 4])?;
    *frozen.write()?.counter_mut() += 1;
    assert_eq!(frozen.read()?.id(), &[9; 4]);
    assert_eq!(*frozen.read()?.epoch(), 1);
    Ok(())
}
