declare module 'seek-bzip' {
  /** What the decoder reads from: bytes one at a time, or a run of them (-1 at the end). */
  interface InputStream {
    readByte(): number;
    read(buffer: Uint8Array, offset: number, length: number): number;
    seek(position: number): void;
    eof(): boolean;
  }
  interface OutputStream {
    writeByte(byte: number): void;
  }
  const Bunzip: {
    /** Decodes every stream of `input` (several when `multistream`), writing the bytes to `output`. */
    decode(input: InputStream, output: OutputStream, multistream?: boolean): void;
  };
  export default Bunzip;
}
