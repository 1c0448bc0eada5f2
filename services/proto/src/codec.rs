//! The gRPC codec of the ledger's services: prost's, except that a message that does not decode is answered
//! `INVALID_ARGUMENT` (the caller sent it) instead of prost's `INTERNAL`, so that a client sending bytes that are
//! not the request message gets the code for bad input, like any other bad input. (A client using this codec
//! would report an undecodable answer the same way; the server never sends one.)
use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstDecoder};

/// [`ProstCodec`] with undecodable messages refused as `INVALID_ARGUMENT`; the generated services use it
/// (`codec_path` in `build.rs`).
#[derive(Debug, Clone)]
pub struct LedgerCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for LedgerCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for LedgerCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
    type Decoder = LedgerDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        LedgerDecoder(ProstCodec::<T, U>::default().decoder())
    }
}

/// Decodes `U` with prost; a decode error is `INVALID_ARGUMENT` naming the message.
#[derive(Debug, Clone)]
pub struct LedgerDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for LedgerDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|s| match s.code() {
            Code::Internal => {
                let name = std::any::type_name::<U>().rsplit("::").next().unwrap_or("message");
                Status::invalid_argument(format!(
                    "invalid request: the body does not decode as {name}: {}",
                    s.message()
                ))
            }
            _ => s,
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
