import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a,b,c,d,e}from"./chunk-SSUEVM5T.mjs";import"./chunk-Y6HBVR5R.mjs";import"./chunk-OJZBAFIG.mjs";import"./chunk-5BEN6JAN.mjs";export{c as ABORT_MULTIPART_MS,b as DEADLINE_BOUND_MAX_ATTEMPTS,a as DEFAULT_MAX_ATTEMPTS,e as createS3Store,d as s3ClientConfig};
