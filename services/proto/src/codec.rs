//! The gRPC codec of the ledger's services: prost's, except that a message that does not decode is answered
//! `INVALID_ARGUMENT` (the caller sent something that is not the request), not prost's `INTERNAL` (which this
//! API keeps for its own faults).
use std::marker::PhantomData;

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// [`ProstCodec`] with decoding errors answered `INVALID_ARGUMENT`.
#[derive(Debug, Clone, Default)]
pub struct LedgerCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Codec for LedgerCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = LedgerDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        LedgerDecoder(ProstCodec::<T, U>::default().decoder())
    }
}

/// [`ProstDecoder`] with decoding errors answered `INVALID_ARGUMENT`, naming the message type expected.
#[derive(Debug)]
pub struct LedgerDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for LedgerDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            let expected = std::any::type_name::<U>().rsplit("::").next().unwrap_or("the request");
            Status::invalid_argument(format!("the message does not decode as {expected}: {}", status.message()))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
