import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a,b,c,d}from"./chunk-VEZEMSUB.mjs";import"./chunk-MRJH4ATD.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{b as DEADLINE_BOUND_MAX_ATTEMPTS,a as DEFAULT_MAX_ATTEMPTS,d as createS3Store,c as s3ClientConfig};
