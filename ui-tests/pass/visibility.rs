// Accessors and constructors take the struct's visibility; fields keep their own.
mod keys {
    #[siegel::protected]
    pub struct Public {
        secret: [u8; 16],
        pub counter: u64,
        pub(crate) flags: u8,
    }

    #[siegel::protected]
    pub(crate) struct Crate {
        pub(super) bytes: [u8; 8],
    }

    pub mod inner {
        #[siegel::protected]
        pub(in crate::keys) struct Restricted {
            bytes: [u8; 8],
        }

        #[siegel::protected]
        pub(super) struct Parent {
            bytes: [u8; 8],
        }
    }

    #[siegel::protected]
    struct Private {
        bytes: [u8; 8],
    }

    pub(crate) fn use_private() -> Result<u8, siegel::Error> {
        let p = Private::protect_with(|p| p.bytes = [3; 8])?;
        let r = inner::Restricted::protect_zeroed()?;
        let q = inner::Parent::protect_zeroed()?;
        let sum = p.read()?.bytes()[0] + r.read()?.bytes()[0] + q.read()?.bytes()[0];
        Ok(sum)
    }
}

fn main() -> Result<(), siegel::Error> {
    let mut public = keys::Public::protect_zeroed()?;
    public.write()?.secret_mut()[0] = 1;
    public.write()?.counter = 5; // a public field is assignable in a write scope
    *public.write()?.flags_mut() = 2;
    assert_eq!(public.read()?.secret()[0], 1);
    assert_eq!(public.read()?.counter, 5);
    assert_eq!(public.read()?.flags, 2);

    let krate = keys::Crate::protect_with(|c| c.bytes_mut()[1] = 9)?;
    assert_eq!(krate.read()?.bytes[1], 9);
    assert_eq!(keys::use_private()?, 3);
    Ok(())
}
