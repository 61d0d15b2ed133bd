import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-2BL7FYXP.mjs";import"./chunk-VEZEMSUB.mjs";import"./chunk-MRJH4ATD.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
